"""Token choice over host logits [batch, vocab] (numpy): options, per-row random streams, the draw; the rules
that shape logits before it are logit_filters.py's."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ttsx.base.errors import OptionError

from .forcing import observe
from .logit_filters import NEG_INF, apply, softmax, warpers

__all__ = ["NEG_INF", "RowRandom", "SamplingOptions", "check_sampling", "choose", "sample", "softmax"]
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
    """Next token per row: argmax, or transformers' warpers (temperature -> top-k -> top-p) then a draw;
    the choice passes through runtimes.forcing (teacher-forced parity)."""
    if options.greedy:
        return observe(np.argmax(logits, axis=-1).astype(np.int64))
    x = apply(logits.astype(np.float32), warpers(options.temperature, options.top_k, options.top_p, options.min_keep))
    return observe(sample(softmax(x), rng))
