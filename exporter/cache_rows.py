"""Parity feeds and references for graphs with an in-place KV cache, built one row at a time.

A reference model runs each row alone on its real tokens (no padding, its own past); these helpers
put the rows into the batched, fixed-capacity layout the graph takes:

    row b: past [heads, P_b, D] --pack--> cache [B, heads, C, D]  (positions >= P_b: finite garbage the
                                                                    graph must not read)
    row b: present [heads, P_b + L_b, D] --pack--> expected [B, heads, C, D]  (NaN beyond: not compared)
"""
from __future__ import annotations

import numpy as np


def row_lengths(batch: int, longest: int, ragged: bool) -> list[int]:
    """Per-row lengths: all `longest`, or ragged (the first row longest, later rows shorter, all >= 1)."""
    if not ragged:
        return [longest] * batch
    return [max(1, longest - (longest * b) // (batch + 1)) for b in range(batch)]


def pack(rows: list, capacity: int, fill: str, rng: np.random.Generator | None = None) -> np.ndarray:
    """Rows [heads, n_b, D] (numpy or torch) -> [B, heads, capacity, D]; the rest is NaN or random garbage."""
    rows = [np.asarray(r, np.float32) for r in rows]
    heads, dim = rows[0].shape[0], rows[0].shape[-1]
    shape = (len(rows), heads, capacity, dim)
    out = np.full(shape, np.nan, np.float32) if fill == "nan" else rng.standard_normal(shape).astype(np.float32)
    for b, row in enumerate(rows):
        out[b, :, : row.shape[1]] = row
    return out


def lengths_feed(spec, cached: list[int], new: list[int]) -> dict[str, np.ndarray]:
    """The graph's two length inputs (int32)."""
    return {spec.lengths.cached: np.asarray(cached, np.int32), spec.lengths.new: np.asarray(new, np.int32)}
