"""`ttsx serve` on gpt-sovits-tiny: a preset voice by name, phoneme text, a reply streamed inside the piece; never a
path."""
import numpy as np
import pytest

import ttsx
from ttsx.base.audio import pcm16
from ttsx.runtimes.pipeline import SynthesisOptions

httpx = pytest.importorskip("httpx")

TEXT = "HH AH0 L OW1 , W ER1 L D ."
LONGER = "DH IH1 S IH1 Z AH0 L AO1 NG ER0 S EH1 N T AH0 N S , HH IY1 R . W IY1 W IH1 L S IY1 HH AW1 IH1 T G OW1 Z ."


def test_serve_speaks_with_a_preset_and_refuses_paths_and_plain_text(gpt_sovits_artifact, tmp_path,
                                                                      run_server):
    with run_server(tmp_path, f"gsv={gpt_sovits_artifact}") as server:
        url = f"{server.url}/v1/audio/speech"
        reply = httpx.post(url, timeout=120, json={"model": "gsv", "input": TEXT, "voice": "seed-1",
                                                   "response_format": "pcm", "seed": 2})
        other = httpx.post(url, timeout=120, json={"model": "gsv", "input": TEXT, "voice": "seed-0",
                                                   "response_format": "pcm", "seed": 2})
        path = httpx.post(url, timeout=60, json={"model": "gsv", "input": TEXT,
                                                 "voice": str(gpt_sovits_artifact / "voices" / "seed-0.npz")})
        plain = httpx.post(url, timeout=60, json={"model": "gsv", "input": "Hello.", "voice": "seed-0"})
        with httpx.stream("POST", url, timeout=120, json={"model": "gsv", "input": LONGER, "voice": "seed-0",
                                                           "response_format": "pcm", "greedy": True, "seed": 5,
                                                           "stream_format": "audio"}) as streamed:
            chunks = b"".join(streamed.iter_bytes())
        alive = httpx.get(f"{server.url}/health", timeout=10)
    assert reply.status_code == 200 and len(reply.content) > 0, reply.text[:300]
    assert other.status_code == 200 and other.content != reply.content
    assert path.status_code == 400 and "voice" in path.text, path.text
    assert plain.status_code == 400 and "phoneme symbols" in plain.text, plain.text
    assert alive.status_code == 200
    assert np.frombuffer(reply.content, np.int16).size > 0
    with ttsx.load(gpt_sovits_artifact) as pipeline:  # streamed inside the piece, as upstream's TTS.run streams
        chunked = pipeline.stream(LONGER, voice="seed-0", options=SynthesisOptions(greedy=True, seed=5))
        expected = [pcm16(c) for c in chunked]
    assert len(expected) >= 3 and chunks == b"".join(expected)


class ListSink:
    """A streamed piece's chunks as the batcher's worker hands them over, with when each came."""

    cancelled = False

    def __init__(self):
        import threading
        import time

        self.chunks, self.times, self.ended, self.error, self._clock = [], [], threading.Event(), None, time.perf_counter

    def put(self, chunk):
        self.chunks.append(chunk)
        self.times.append(self._clock())

    def end(self):
        self.times.append(self._clock())
        self.ended.set()

    def fail(self, exc):
        self.error = exc
        self.ended.set()


@pytest.mark.parametrize("join", [True, False])
def test_a_streamed_request_joins_a_running_batch_and_streams_as_alone(gpt_sovits_artifact, join):
    """The server's batcher: request B arrives while A streams; with join it enters A's running t2s batch (one
    pool, both rows busy at once), without it the two take turns; either way each streams its solo chunks."""
    import time

    from ttsx.app.serving.batcher import Batcher
    from ttsx.runtimes.pipeline import Piece

    texts, seeds = [LONGER, TEXT], [5, 6]
    options = SynthesisOptions(seed=0, max_tokens=50)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        alone = [list(pipeline.stream(t, voice="seed-0", options=SynthesisOptions(seed=s, max_tokens=50)))
                 for t, s in zip(texts, seeds)]
        family = pipeline.options(options)
        batcher = Batcher(pipeline, window_s=0.0, max_batch=4, join=join)
        sinks, busy = [ListSink(), ListSink()], []
        try:
            batcher.submit([Piece(texts[0], seeds[0])], "seed-0", family, sinks=[sinks[0]])
            while not sinks[0].chunks and not sinks[0].ended.is_set():
                time.sleep(0.001)  # until A is running: its first chunk is out
            batcher.submit([Piece(texts[1], seeds[1])], "seed-0", family, sinks=[sinks[1]])
            while not all(s.ended.is_set() for s in sinks):
                pool = batcher._pool
                busy.append(0 if pool is None else 4 - pool.free)
                time.sleep(0.001)
        finally:
            batcher.close(60)
    assert all(s.error is None for s in sinks), [s.error for s in sinks]
    assert (max(busy) == 2) if join else (max(busy) == 0)  # both rows in one batch / no pool at all
    for sink, solo in zip(sinks, alone):
        assert len(solo) > 1 and len(sink.chunks) == len(solo)
        for a, b in zip(sink.chunks, solo):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
