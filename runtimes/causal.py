"""Prefill then step an autoregressive graph pair; the KV cache stays in the backend between steps.

    prefill(feed) ──present.*──┐
                               v  paired by the decode spec's CachePair(past, present) names
    step(feed) ── past.* + the step's own inputs (ids, positions, masks: whatever the spec lists) ──> outputs

The runner knows no model: which inputs are cache comes from `GraphSpec.cache`, everything else a
step needs is fed by the family's loop. Only the non-cache outputs come back to the host.
"""
from __future__ import annotations

import numpy as np

from ttsx.errors import TtsxError

from .session import StageSession


class CausalRunner:
    """A prefill session and a decode session sharing one KV cache."""

    def __init__(self, prefill: StageSession, decode: StageSession):
        if not decode.spec.cache:
            raise TtsxError(f"{decode.spec.name} declares no cache pairs; it is not a decode graph")
        missing = [p.present for p in decode.spec.cache if p.present not in prefill.spec.output_names]
        if missing:
            raise TtsxError(f"{prefill.spec.name} does not output the caches {missing} that {decode.spec.name} needs")
        self.prefill, self.decode = prefill, decode
        self.pairs = decode.spec.cache
        present = {p.present for p in self.pairs}
        self._host = tuple(n for n in decode.spec.output_names if n not in present)
        self._prefill_host = tuple(n for n in prefill.spec.output_names if n not in present)
        self._past: dict = {}

    def start(self, feed: dict) -> dict[str, np.ndarray]:
        """Run the prefill; its non-cache outputs (e.g. logits of the last position) as numpy."""
        return self._keep(self.prefill.run(feed, host=self._prefill_host))

    def step(self, feed: dict) -> dict[str, np.ndarray]:
        """One decode step: `feed` holds the step inputs (no cache); the non-cache outputs as numpy."""
        if not self._past:
            raise TtsxError(f"{self.decode.spec.name}: step() before start(); run the prefill first")
        return self._keep(self.decode.run({**feed, **self._past}, host=self._host))

    def _keep(self, outputs: dict) -> dict[str, np.ndarray]:
        self._past = {p.past: outputs[p.present] for p in self.pairs}
        return {name: value for name, value in outputs.items() if name not in {p.present for p in self.pairs}}
