"""Run an autoregressive graph over a fixed-capacity KV cache that the graph updates in place.

    start(feed, lengths, room, bound) -- caches of `capacity` positions per row, bound once to the session
                                  (the graph's present outputs ARE these buffers), with `bound` inputs
                                  that hold for the whole generation (an encoder's keys and values) --> prefill
    step(feed)                 -- one token per row; only the step's small inputs cross each call
    reserve(rows, positions)   -- caches and no prefill: rows join later (continuous batching) by
    admit(row, prefilled)         copying a runner's prefilled row in; step(feed, idle) leaves free rows empty

Several runners may take turns on one session (streams made chunk by chunk): each binds its own caches
again when the session last ran another's, unless the session pools its caches (`pooled_caches`: one
generation at a time). The runner keeps each row's length (`cache_lengths`): rows of different prompt lengths share a
batch (the prompt is right-padded; row b's tokens are its first lengths[b]). It knows no model:
which inputs are cache, and which two carry the lengths, comes from the graph spec; everything else a
step needs (ids, embeddings) is fed by the family's loop. Only the non-cache outputs reach the host.
"""
from __future__ import annotations

import numpy as np

from ttsx.base.errors import TtsxError

from .session import StageSession

class CausalRunner:
    """One causal graph with an in-place cache: a prefill, then steps of one token per row."""

    def __init__(self, session: StageSession):
        spec = session.spec
        if not spec.cache or spec.lengths is None:
            raise TtsxError(f"{spec.name} has no in-place cache; it can't run autoregressively (re-export it)")
        self.session, self.spec = session, spec
        self.cache_lengths: np.ndarray | None = None  # int32 [B]: tokens in each row's cache
        self.capacity = 0

    def start(self, feed: dict, lengths, room: int, bound: dict | None = None) -> dict[str, np.ndarray]:
        """Prefill rows of `lengths` real tokens (feed right-padded), leaving room for `room` more per row.
        `bound`: inputs the same for every step of this generation (values of this backend, or numpy), bound
        with the caches and never fed again."""
        lengths = np.asarray(lengths, np.int32)
        self.capacity = self.spec.capacity_for(int(lengths.max()) + room)
        bound = dict(bound or {})
        wrong = [n for n in bound if n not in self.spec.step_inputs or n in (self.spec.lengths.cached, self.spec.lengths.new)]
        if wrong:
            raise TtsxError(f"{self.spec.name}: {wrong} can't be bound for a generation (not a step input of the graph)")
        self._bound = {**self.session.new_cache(len(lengths), self.capacity), **bound}
        self.session.attach(self._bound)
        self.session.bound_for = self
        self.cache_lengths = np.zeros(len(lengths), np.int32)
        return self._run(feed, lengths)

    def reserve(self, rows: int, positions: int) -> None:
        """Caches for `rows` rows of at least `positions` positions each, empty: rows join with admit()."""
        self.capacity = self.spec.capacity_for(positions)
        self._bound = self.session.new_cache(rows, self.capacity)
        self.session.attach(self._bound)
        self.session.bound_for = self
        self.cache_lengths = np.zeros(rows, np.int32)

    def admit(self, row: int, prefilled: "CausalRunner", prefilled_row: int = 0) -> None:
        """Row `row` goes on from `prefilled`'s row (a generation prefilled alone): its cached positions copied
        in, its length taken. The row must be free (its generation gone) and hold them."""
        if self.cache_lengths is None or prefilled.cache_lengths is None:
            raise TtsxError(f"{self.spec.name}: admit() needs reserved caches and a prefilled runner")
        positions = int(prefilled.cache_lengths[prefilled_row])
        if positions > self.capacity:
            raise TtsxError(f"{self.spec.name}: a row of {positions} positions does not fit caches of {self.capacity}")
        self.session.copy_cache_row(self._bound, row, prefilled._bound, prefilled_row, positions)
        self.cache_lengths[row] = positions

    def step(self, feed: dict, idle: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """One token per row (feed [B, 1, ...]); the next outputs. `idle` (bool [B]): free rows, emptied before
        the step (their outputs are nobody's)."""
        if self.cache_lengths is None:
            raise TtsxError(f"{self.spec.name}: step() before start(); run the prefill first")
        if idle is not None:
            self.cache_lengths = np.where(idle, 0, self.cache_lengths).astype(np.int32)
        if int(self.cache_lengths.max()) + 1 > self.capacity:
            raise TtsxError(f"{self.spec.name}: the cache holds {self.capacity} positions and is full; "
                            "ask for fewer new tokens")
        if self.session.bound_for is not self:  # another generation ran on the session since
            if self.session.pooled_caches:
                raise TtsxError(f"{self.spec.name}: another generation used this {self.session.backend} session's "
                                "pooled caches; run one generation at a time on it")
            self.session.attach(self._bound)
            self.session.bound_for = self
        return self._run(feed, np.ones(len(self.cache_lengths), np.int32))

    def close(self) -> None:
        """Drop the cache buffers."""
        if self.session.bound_for is self:
            self.session.detach()
            self.session.bound_for = None
        self.cache_lengths, self._bound = None, {}

    def _run(self, feed: dict, lengths: np.ndarray) -> dict[str, np.ndarray]:
        names = self.spec.lengths
        outputs = self.session.run({**feed, names.cached: self.cache_lengths, names.new: lengths},
                                   host=self.session.host_outputs)
        self.cache_lengths = self.cache_lengths + lengths
        return outputs
