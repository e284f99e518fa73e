"""`ttsx serve` on parler-tts-tiny: OpenAI's `instructions` carry the description, `voice` names a preset, a
streamed reply comes inside the piece as ParlerTTSStreamer streams; instructions are refused by models that take
none, paths are never read."""
import numpy as np
import pytest

import ttsx
from ttsx.base.audio import pcm16
from ttsx.runtimes.pipeline import SynthesisOptions

httpx = pytest.importorskip("httpx")

TEXT = "Hello world. Good morning."
CALM = "A female speaker with a calm voice."


def test_instructions_steer_the_voice_and_stream_like_the_whole(parler_artifact, tiny_artifact, tmp_path,
                                                                run_server):
    with run_server(tmp_path, f"parler={parler_artifact}", f"bark={tiny_artifact}") as server:
        url = f"{server.url}/v1/audio/speech"

        def speak(**fields):
            body = {"model": "parler", "input": TEXT, "response_format": "pcm", "greedy": True, "max_tokens": 40,
                    **fields}
            return httpx.post(url, timeout=120, json=body)

        calm, other, preset = speak(instructions=CALM), speak(instructions="A man shouting."), speak(voice="jon")
        with httpx.stream("POST", url, timeout=120, json={"model": "parler", "input": TEXT, "response_format": "pcm",
                                                           "greedy": True, "max_tokens": 40, "instructions": CALM,
                                                           "stream_format": "audio"}) as streamed:
            chunks = [c for c in streamed.iter_bytes()]
        bark = httpx.post(url, timeout=60, json={"model": "bark", "input": "Hi.", "instructions": CALM})
        path = speak(voice=str(parler_artifact / "voices" / "jon.txt"))
        empty = speak(instructions="   ")
        models = httpx.get(f"{server.url}/v1/models", timeout=10).json()
        alive = httpx.get(f"{server.url}/health", timeout=10)
    assert calm.status_code == 200 and len(calm.content) > 0, calm.text[:300]
    assert other.status_code == 200 and other.content != calm.content
    assert preset.status_code == 200 and preset.content not in (calm.content, other.content)
    with ttsx.load(parler_artifact) as pipeline:  # streamed inside the piece, as ParlerTTSStreamer streams
        expected = pipeline.stream(TEXT, options=SynthesisOptions(greedy=True, max_tokens=40, instructions=CALM))
        expected = [pcm16(c) for c in expected]
    assert b"".join(chunks) == b"".join(expected) and len(expected) > 2
    assert bark.status_code == 400 and "takes no instructions" in bark.text, bark.text
    assert path.status_code == 400 and "voice" in path.text, path.text
    assert empty.status_code == 400 and "description is empty" in empty.text, empty.text
    listed = {m["id"]: m for m in models["data"]}
    assert "jon" in listed["parler"]["voices"] and listed["parler"]["instructions"] is True
    assert listed["bark"]["instructions"] is False
    assert alive.status_code == 200
    assert np.frombuffer(calm.content, np.int16).size > 0


def test_concurrent_streams_take_turns_chunk_by_chunk(parler_artifact, tmp_path, run_server):
    """Two streamed requests at once: each gets its first chunk before the other's stream ends (the worker
    makes one chunk of each in turn), and each gets what it gets alone."""
    import threading
    import time

    body = {"model": "parler", "input": TEXT, "response_format": "pcm", "greedy": True, "max_tokens": 200,
            "instructions": CALM, "stream_format": "audio"}
    with run_server(tmp_path, f"parler={parler_artifact}", "--batch-window-ms", "0") as server:
        url = f"{server.url}/v1/audio/speech"
        alone = httpx.post(url, timeout=120, json=body).content
        times, data = {}, {}

        def stream(name):
            with httpx.stream("POST", url, timeout=120, json=body) as reply:
                parts = []
                for part in reply.iter_bytes():
                    times.setdefault(name, [time.perf_counter()])
                    parts.append(part)
                times[name].append(time.perf_counter())
                data[name] = b"".join(parts)

        threads = [threading.Thread(target=stream, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert data["a"] == data["b"] == alone
    (a_first, a_end), (b_first, b_end) = times["a"], times["b"]
    assert a_first < b_end and b_first < a_end, times
