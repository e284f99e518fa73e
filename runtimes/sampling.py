"""Token choice as small pure functions over host logits [batch, vocab] (numpy)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEG_INF = np.float32(-np.inf)


@dataclass(frozen=True)
class SamplingOptions:
    """How one autoregressive stage picks tokens."""

    greedy: bool = False  # argmax (transformers' do_sample=False); the options below are then unused
    temperature: float = 0.7  # logits are divided by this before softmax
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability reaches top_p

    def __post_init__(self):
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 (got {self.temperature}); use greedy=True for argmax")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1 (got {self.top_k})")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")


def keep_range(logits: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Copy of logits with every id outside [lo, hi) set to -inf."""
    out = np.full_like(logits, NEG_INF)
    out[:, lo:hi] = logits[:, lo:hi]
    return out


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def top_k_filter(x: np.ndarray, k: int) -> np.ndarray:
    """-inf below the k-th largest value per row."""
    if k >= x.shape[-1]:
        return x
    kth = np.partition(x, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)
    return np.where(x < kth, NEG_INF, x)


def top_p_filter(x: np.ndarray, p: float) -> np.ndarray:
    """-inf outside the nucleus of probability p (the most likely token always stays)."""
    order = np.argsort(-x, axis=-1)
    probs = np.take_along_axis(softmax(x), order, axis=-1)
    drop_sorted = np.cumsum(probs, axis=-1) - probs >= p
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, NEG_INF, x)


def sample(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row of probs [..., vocab] -> int64 ids [...]."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1] + (1,)) * cdf[..., -1:]
    return np.minimum((cdf < u).sum(-1), probs.shape[-1] - 1).astype(np.int64)


def choose(logits: np.ndarray, options: SamplingOptions, rng: np.random.Generator) -> np.ndarray:
    """Next token per row: argmax, or temperature -> top-k -> top-p -> sample (transformers' order)."""
    if options.greedy:
        return np.argmax(logits, axis=-1).astype(np.int64)
    x = logits.astype(np.float32) / np.float32(options.temperature)
    if options.top_k:
        x = top_k_filter(x, options.top_k)
    if options.top_p is not None and options.top_p < 1:
        x = top_p_filter(x, options.top_p)
    return sample(softmax(x), rng)
