"""Calibration inputs for int8 Q/DQ: real stage inputs captured while the fp32 pipeline synthesizes prompts.

Every graph sees what it sees in production (prefills, decode steps at growing pasts, every call of
the stateless graphs), not random tensors: activation ranges are taken from these. Running the pipeline is
this layer's job; the exporter converts with what it is handed (ttsx.app.quantize.quantize_artifact joins the two).
"""
from __future__ import annotations

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.recipes.precision import DECODE_STRIDE
from ttsx.runtimes.session import SessionWrapper, StageSession

SAMPLES_PER_GRAPH = 32  # feeds kept per graph at most
SAMPLE_BYTES_PER_GRAPH = 512 << 20  # and at most 512 MiB of them (a 12-layer, 768-wide decode feed at past
#                                     800, batch 4, holds 236 MB of KV cache)


class RecordingSession(SessionWrapper):
    """Wraps a stage session and keeps numpy copies of the feeds it runs, up to `limit`.

    Every call of several positions (a prefill, a window) is kept; of the one-token decode steps of a
    causal graph only every `stride`-th, so that pasts of many lengths are seen without holding every
    cache. Attached caches are recorded as they are when the step runs (their valid prefix and the rest).
    """

    def __init__(self, inner: StageSession, stride: int = 1, limit: int = SAMPLES_PER_GRAPH,
                 max_bytes: int = SAMPLE_BYTES_PER_GRAPH):
        super().__init__(inner)
        self.stride, self.limit, self.max_bytes = stride, limit, max_bytes
        self.samples: list[dict[str, np.ndarray]] = []
        self._steps = self._bytes = 0

    def _run(self, feed: dict, host) -> dict:
        if self._keep(feed) and len(self.samples) < self.limit:
            sample = {name: _to_numpy(value) for name, value in feed.items()}
            size = sum(a.nbytes for a in sample.values())
            if self._bytes + size <= self.max_bytes or not self.samples:  # always keep one
                self.samples.append(sample)
                self._bytes += size
        return super()._run(feed, host)

    def _keep(self, feed: dict) -> bool:
        positions = self.spec.positions_input
        if positions is None or feed[positions].shape[1] != 1:
            return True  # not a one-token step
        self._steps += 1
        return (self._steps - 1) % self.stride == 0


def capture_feeds(artifact: Artifact, prompts: tuple[str, ...],
                  max_tokens: int = 48, seed: int = 0) -> dict[str, list[dict]]:
    """Run the fp32 onnxruntime pipeline on prompts (seeded sampling; `ttsx quantize` passes the family's
    Family.calibration_prompts unless given a file); feeds per graph name."""
    from ttsx.runtimes.factory import open_pipeline
    from ttsx.runtimes.pipeline import SynthesisOptions

    recorders: dict[str, RecordingSession] = {}

    def record(session: StageSession) -> StageSession:
        recorders[session.spec.name] = RecordingSession(session, DECODE_STRIDE)  # decode steps: every 8th
        return recorders[session.spec.name]

    options = SynthesisOptions(seed=seed, max_tokens=max_tokens, batch_size=1)  # small feeds: calibration memory
    with open_pipeline(artifact, wrap=record) as pipeline:
        pipeline(list(prompts), options=options)
    return {name: recorder.samples for name, recorder in recorders.items()}


def _to_numpy(value) -> np.ndarray:
    """A host copy of a numpy array, OrtValue or torch tensor (an OrtValue's numpy() is a view of a live cache)."""
    return value.copy() if isinstance(value, np.ndarray) else np.array(value.numpy())
