"""Parler-TTS's delay pattern, EOS rule and token choice on the host, per row (numpy; no model inside).

Codebook k of a frame is generated k steps after codebook 0 (build_delay_pattern_mask): column c of the
decoder's input holds, for codebook k, BOS while c <= k, PAD from column max_length - 8 + k on (9
codebooks), else the code generated at c. Raw choices are kept as generated (what the EOS rule and the
stop see); the pattern applies to what is fed and to the final codes.

ParlerTTSLogitsProcessor: each item points at its first codebook without an EOS; every codebook above it
has EOS masked; the pointer moves on by one (at most one per step) once its codebook has emitted EOS.
A codebook that emitted EOS is fed PAD (= EOS) from then on (generate's finished rows); the item ends
when all its codebooks have, or at max_length columns.
"""
from __future__ import annotations

import numpy as np

from ttsx.runtimes.forcing import observe
from ttsx.runtimes.logit_filters import NEG_INF, ONWARD, Suppress, apply, softmax, warpers
from ttsx.runtimes.sampling import sample


def fed_column(raw: np.ndarray, column: int, max_length: int, bos: int, pad: int) -> np.ndarray:
    """The delayed input column [B, K] from the raw choices [B, K] generated at `column`."""
    k = np.arange(raw.shape[1])
    out = np.where(column <= k, bos, raw)
    return np.where(column >= max_length - raw.shape[1] + 1 + k, pad, out).astype(np.int64)


def undelay(raw: np.ndarray, max_length: int, bos: int, pad: int, codebook_size: int) -> np.ndarray:
    """An item's raw columns [K, L] (column 0 the start) -> the frames generate decodes [K, T]: the pattern
    applied, each codebook shifted back by its delay, frames with any id >= codebook_size dropped. Below
    2K - 1 columns generate removes no delay (build_delay_pattern_mask returns no pattern), and every frame
    then holds a BOS or an EOS."""
    k_count, length = raw.shape
    masked = np.stack([fed_column(raw[:, c][None], c, max_length, bos, pad)[0] for c in range(length)], 1)
    if length < 2 * k_count - 1:
        codes = masked
    else:
        codes = np.stack([masked[k, k + 1: length - k_count + 1 + k] for k in range(k_count)])
    keep = (codes < codebook_size).all(0)
    return codes[:, keep]


class EosRule:
    """ParlerTTSLogitsProcessor for a batch of items of K codebooks, plus generate's finished rows."""

    def __init__(self, batch: int, codebooks: int, eos: int):
        self.eos, self.codebooks = eos, codebooks
        self.pointer = np.zeros(batch, np.int64)  # each item's first codebook without an EOS
        self.emitted = np.zeros((batch, codebooks), bool)  # codebooks that have emitted EOS (then PAD)

    def mask(self, logits: np.ndarray) -> np.ndarray:
        """logits [B, K, V] with EOS masked above each item's pointer (moved on first, as the processor does)."""
        rows = np.arange(len(self.pointer))
        move = self.emitted[rows, self.pointer] & (self.pointer < self.codebooks - 1)
        self.pointer = np.where(move, self.pointer + 1, self.pointer)
        above = np.arange(self.codebooks)[None, :] > self.pointer[:, None]
        out = logits.copy()
        out[..., self.eos] = np.where(above, NEG_INF, out[..., self.eos])
        return out

    def finish(self, raw: np.ndarray) -> np.ndarray:
        """raw choices [B, K] -> as generate keeps them (PAD on codebooks already finished); records new EOS."""
        raw = np.where(self.emitted, self.eos, raw)
        self.emitted |= raw == self.eos
        return raw

    @property
    def done(self) -> np.ndarray:
        """Items all of whose codebooks have emitted EOS."""
        return self.emitted.all(1)


def choose(logits: np.ndarray, greedy: bool, temperature: float, top_k: int | None, top_p: float | None, rng,
           counted: np.ndarray | None = None) -> np.ndarray:
    """[B, K, V] processed logits -> ids [B, K]: argmax, or generate's warpers (temperature, top-k with ties,
    top-p) and a draw per codebook from the item's own stream; through runtimes.forcing (counted: items)."""
    b, k, v = logits.shape
    x = logits.reshape(b * k, v).astype(np.float32)
    if greedy:
        ids = np.argmax(x, -1).astype(np.int64)
    else:
        ids = sample(softmax(warp(x, temperature, top_k, top_p)), rng)
    rows = None if counted is None else np.repeat(counted, k)
    return observe(ids, rows).reshape(b, k)


def warp(x: np.ndarray, temperature: float, top_k: int | None, top_p: float | None) -> np.ndarray:
    """generate's warpers in its order: TemperatureLogitsWarper, TopKLogitsWarper (ties at the k-th kept),
    TopPLogitsWarper (rows [N, V])."""
    return apply(x, warpers(temperature, top_k, top_p))


def suppress_from(logits: np.ndarray, first: int) -> np.ndarray:
    """Ids `first` onwards masked on every codebook (generate's suppress_tokens): with first = EOS, every row
    runs to its length and every frame is audio (benchmarks' fixed lengths)."""
    return Suppress(first, ONWARD)(logits)
