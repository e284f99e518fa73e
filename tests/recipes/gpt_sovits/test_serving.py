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
