"""Token choice as small pure functions over host logits [batch, vocab] (numpy)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ttsx.base.errors import OptionError

from .forcing import observe

NEG_INF = np.float32(-np.inf)
MIN_TEMPERATURE = 1e-6  # below it logits / temperature overflows; use greedy for argmax
MAX_TEMPERATURE = 10.0  # above it every family samples near-uniformly (noise), and 1e308 divides logits to 0


def check_sampling(temperature: float | None, top_k: int | None, top_p: float | None) -> None:
    """Reject values that would sample from NaN, empty or flat distributions, naming the option."""
    if temperature is not None and not (math.isfinite(temperature)
                                        and MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
        raise OptionError(f"temperature must be a number in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}] "
                        f"(got {temperature}); use greedy for argmax")
    if top_k is not None and top_k < 1:
        raise OptionError(f"top_k must be >= 1 (got {top_k})")
    if top_p is not None and not (math.isfinite(top_p) and 1e-6 <= top_p <= 1):
        raise OptionError(f"top_p must be in [1e-6, 1] (got {top_p})")


@dataclass(frozen=True)
class SamplingOptions:
    """How one autoregressive stage picks tokens."""

    greedy: bool = False  # argmax (transformers' do_sample=False); the options below are then unused
    temperature: float = 0.7  # logits are divided by this before softmax
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability reaches top_p
    min_keep: int = 1  # top-k and top-p keep at least this many ids (transformers' min_tokens_to_keep)

    def __post_init__(self):
        check_sampling(self.temperature, self.top_k, self.top_p)


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def top_k_filter(x: np.ndarray, k: int, min_keep: int = 1) -> np.ndarray:
    """-inf below the k-th largest value per row (k at least min_keep)."""
    k = max(k, min_keep)
    if k >= x.shape[-1]:
        return x
    kth = np.partition(x, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)
    return np.where(x < kth, NEG_INF, x)


def top_p_filter(x: np.ndarray, p: float, min_keep: int = 1) -> np.ndarray:
    """-inf outside the nucleus of probability p; the min_keep most likely tokens always stay."""
    order = np.argsort(-x, axis=-1, kind="stable")
    probs = np.take_along_axis(softmax(x), order, axis=-1)
    drop_sorted = np.cumsum(probs, axis=-1) - probs >= p
    drop_sorted[..., :min_keep] = False
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, NEG_INF, x)


class RowRandom:
    """One random stream per batch row, so that a row draws the same numbers whatever shares its batch.

    Each row's stream is keyed by integers (a request's seed, the piece's index in its text, the stage):
    a seeded text makes the same tokens alone, batched with others, or streamed piece by piece.
    `random(shape)` takes shape[0] = rows * k and gives each row k consecutive draws of its own stream.
    """

    def __init__(self, keys: list[tuple[int, ...]], streams: list[np.random.Generator] | None = None):
        self._streams = streams if streams is not None else [np.random.default_rng([int(x) for x in k]) for k in keys]

    def random(self, shape: tuple[int, ...]) -> np.ndarray:
        """Uniform [0, 1) draws of `shape`; the first axis is split evenly between the rows."""
        per_row, rest = divmod(shape[0], len(self._streams))
        if rest:
            raise ValueError(f"{shape[0]} draws do not split evenly over {len(self._streams)} rows")
        return np.concatenate([s.random((per_row,) + tuple(shape[1:])) for s in self._streams])

    def rows(self, index) -> "RowRandom":
        """The streams of the rows at `index` (not copies: they go on from where they are)."""
        return RowRandom([], [self._streams[i] for i in index])


def sample(probs: np.ndarray, rng: "np.random.Generator | RowRandom") -> np.ndarray:
    """One draw per row of probs [..., vocab] -> int64 ids [...]."""
    cdf = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1] + (1,)) * cdf[..., -1:]
    return np.minimum((cdf < u).sum(-1), probs.shape[-1] - 1).astype(np.int64)


def choose(logits: np.ndarray, options: SamplingOptions, rng: "np.random.Generator | RowRandom") -> np.ndarray:
    """Next token per row: argmax, or temperature -> top-k -> top-p -> sample (transformers' order);
    the choice passes through runtimes.forcing (teacher-forced parity)."""
    if options.greedy:
        return observe(np.argmax(logits, axis=-1).astype(np.int64))
    x = logits.astype(np.float32) / np.float32(options.temperature)
    if options.top_k:
        x = top_k_filter(x, options.top_k, options.min_keep)
    if options.top_p is not None and options.top_p < 1:
        x = top_p_filter(x, options.top_p, options.min_keep)
    return observe(sample(softmax(x), rng))


def repetition_penalty(logits: np.ndarray, history: np.ndarray, penalty: float, window: int,
                       max_rows: int | None = None) -> np.ndarray:
    """Scale each row's logits by penalty ** (count of the id among its last `window` tokens).

    logits [rows, vocab], history [rows, n] int; negative logits are multiplied, positive ones
    divided (CTRL's rule). `max_rows`: rows from that index on are left unpenalised (one model's
    reference counts only its first rows).
    """
    if penalty == 1.0 or history.shape[1] == 0:
        return logits
    recent = history[:, -window:]
    counts = np.zeros(logits.shape, np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(recent)), recent.shape[1]), recent.ravel()), 1)
    if max_rows is not None:
        counts[max_rows:] = 0
    alpha = np.float32(penalty) ** counts.astype(np.float32)
    return np.where(logits < 0, logits * alpha, logits / alpha).astype(np.float32)
