"""`ttsx serve` on the test-only toy family (tests/plugin_family): the server is as neutral as the core."""
import pytest

httpx = pytest.importorskip("httpx")


def test_serve_answers_a_speech_request_of_a_plug_in_family(toy_artifact, tmp_path, run_server):
    with run_server(tmp_path, f"toy={toy_artifact}") as server:
        reply = httpx.post(f"{server.url}/v1/audio/speech", timeout=120,
                           json={"model": "toy", "input": "Hello there.", "response_format": "wav", "seed": 1})
        bad = httpx.post(f"{server.url}/v1/audio/speech", timeout=60,
                         json={"model": "toy", "input": "Hi.", "voice": "/etc/passwd"})
        alive = httpx.get(f"{server.url}/health", timeout=10)
    assert reply.status_code == 200 and reply.content[:4] == b"RIFF", reply.text[:300]
    assert bad.status_code == 400 and "voice" in bad.text, bad.text
    assert alive.status_code == 200
