"""Generation rules as small logit filters (whisper's shape): each takes host logits [rows, vocab] and returns them
filtered; a family's rule is a list of them in its reference's order, applied by `apply`.

    logits ──Temperature──TopK──TopP──> (transformers' warpers, in generate's order: `warpers`)
    logits ──SeenPenalty──UpstreamTopP──Temperature(floor)──TopK──> (a reference's own sampler, in its order)
    logits ──Temperature──RepetitionPenalty──TopP──TopK──Suppress(EOS)──> (another's logit processors)

Filters are frozen dataclasses holding what they need (a penalty's history is per call: build the filter per
step). None of them draws: sampling.sample and each family's draw do.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NEG_INF = np.float32(-np.inf)


def apply(x: np.ndarray, filters) -> np.ndarray:
    """`x` through each filter in order."""
    for f in filters:
        x = f(x)
    return x


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Numerically stable softmax."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


@dataclass(frozen=True)
class Temperature:
    """Logits divided by the temperature (at least `floor`: some references divide by max(T, 1e-5))."""

    value: float
    floor: float = 0.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return x / np.float32(max(self.value, self.floor))


@dataclass(frozen=True)
class TopK:
    """-inf below the k-th largest value per row; ties with it are kept (k at least min_keep)."""

    k: int
    min_keep: int = 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        k = max(self.k, self.min_keep)
        if k >= x.shape[-1]:
            return x
        kth = np.partition(x, -k, axis=-1)[:, -k:].min(axis=-1, keepdims=True)
        return np.where(x < kth, NEG_INF, x)


@dataclass(frozen=True)
class TopP:
    """transformers' nucleus: -inf for ids whose more likely ids already hold mass p; min_keep always stay."""

    p: float
    min_keep: int = 1

    def __call__(self, x: np.ndarray) -> np.ndarray:
        order = np.argsort(-x, axis=-1, kind="stable")
        probs = np.take_along_axis(softmax(x), order, axis=-1)
        drop_sorted = np.cumsum(probs, axis=-1) - probs >= self.p
        drop_sorted[..., : self.min_keep] = False
        return _dropped(x, order, drop_sorted)


@dataclass(frozen=True)
class UpstreamTopP:
    """The nucleus as some references' own samplers cut it (`logits_to_probs`): -inf where the cumulative
    probability (this id's included) passes p; the most likely id always stays."""

    p: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        order = np.argsort(-x, axis=-1, kind="stable")
        drop_sorted = np.cumsum(softmax(np.take_along_axis(x, order, -1)), -1) > self.p
        drop_sorted[:, 0] = False
        return _dropped(x, order, drop_sorted)


def _dropped(x: np.ndarray, order: np.ndarray, drop_sorted: np.ndarray) -> np.ndarray:
    """-inf where drop_sorted (in `order`'s sorted positions) says so."""
    drop = np.zeros_like(drop_sorted)
    np.put_along_axis(drop, order, drop_sorted, axis=-1)
    return np.where(drop, NEG_INF, x)


@dataclass(frozen=True)
class SeenPenalty:
    """CTRL's rule once per distinct id seen earlier in the row (the prompt's included, where a reference counts
    it): negative
    logits multiplied by the penalty, positive ones divided. seen [rows, >= vocab] bool."""

    penalty: float
    seen: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.penalty == 1.0:
            return x
        p = np.float32(self.penalty)
        return np.where(self.seen[:, : x.shape[1]], np.where(x < 0, x * p, x / p), x)


@dataclass(frozen=True)
class RepetitionPenalty:
    """Each row's logits scaled by penalty ** (count of the id among its last `window` tokens), CTRL's rule.

    history [rows, n] int; `max_rows`: rows from that index on are left unpenalised (one model's reference
    counts only its first rows)."""

    penalty: float
    history: np.ndarray
    window: int
    max_rows: int | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.penalty == 1.0 or self.history.shape[1] == 0:
            return x
        recent = self.history[:, -self.window:]
        counts = np.zeros(x.shape, np.int64)
        np.add.at(counts, (np.repeat(np.arange(len(recent)), recent.shape[1]), recent.ravel()), 1)
        if self.max_rows is not None:
            counts[self.max_rows:] = 0
        alpha = np.float32(self.penalty) ** counts.astype(np.float32)
        return np.where(x < 0, x * alpha, x / alpha).astype(np.float32)


ONWARD = 2**62  # Suppress's stop for "every id from start on"


@dataclass(frozen=True)
class Suppress:
    """-inf on ids [start, stop) of every row; one id when stop is None (an EOS bar), every id from start on
    with stop=ONWARD (generate's suppress_tokens over a range)."""

    start: int
    stop: int | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = x.copy()
        out[..., self.start: self.start + 1 if self.stop is None else self.stop] = NEG_INF
        return out


def warpers(temperature: float, top_k: int | None, top_p: float | None, min_keep: int = 1) -> list:
    """transformers' sampling warpers in generate's order: temperature, top-k, top-p (unset ones left out)."""
    chain = [Temperature(temperature)]
    if top_k:
        chain.append(TopK(top_k, min_keep))
    if top_p is not None and top_p < 1:
        chain.append(TopP(top_p, min_keep))
    return chain
