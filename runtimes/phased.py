"""One causal graph as two sessions over one cache: a prefill graph and a decode-step graph.

    run(feed) ── positions > 1 ──> prefill session   (int8 weights in an int4 artifact: compute-bound)
              └─ positions == 1 ─> step session      (int4 weights: memory-bound)

Both graphs have the spec's inputs and outputs and update the same cache buffers in place (`attach`
binds them to both), so a generation prefilled by one is continued by the other. The pipeline and
CausalRunner see one StageSession and know nothing of the split.
"""
from __future__ import annotations

from .session import StageSession


class PhasedSession(StageSession):
    """A prefill session and a step session of one graph spec, chosen per call by its number of positions."""

    def __init__(self, prefill: StageSession, step: StageSession):
        if prefill.spec != step.spec:
            raise ValueError(f"{step.spec.name}: the prefill and step sessions must run the same graph spec")
        super().__init__(step.spec)
        self.prefill, self.step = prefill, step
        self.backend, self.pooled_caches = step.backend, step.pooled_caches
        self.copies_cache_rows = step.copies_cache_rows

    def describe(self, value):
        """As the step session's backend describes its values."""
        return self.step.describe(value)

    def new_cache(self, batch: int, capacity: int) -> dict:
        """The step session's cache buffers (both sessions run on one device)."""
        return self.step.new_cache(batch, capacity)

    def copy_cache_row(self, dst: dict, row: int, src: dict, src_row: int, positions: int) -> None:
        """As the step session copies (one cache for both)."""
        self.step.copy_cache_row(dst, row, src, src_row, positions)

    def attach(self, caches: dict) -> None:
        """Bind the caches to both sessions."""
        super().attach(caches)
        self.prefill.attach(caches)
        self.step.attach(caches)

    def detach(self) -> None:
        """Detach both."""
        super().detach()
        self.prefill.detach()
        self.step.detach()

    def phase(self, feed: dict) -> StageSession:
        """The session a (validated) feed runs on: the prefill session for a call of several positions."""
        return self.prefill if self.describe(feed[self.spec.positions_input])[0][1] > 1 else self.step

    def _run(self, feed: dict, host) -> dict:
        return self.phase(feed)._run(feed, host)

    def close(self) -> None:
        """Close both."""
        self.prefill.close()
        self.step.close()
