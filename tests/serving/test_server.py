"""`ttsx serve` answering the official `openai` client and raw HTTP on a loopback port (a real server process)."""
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import wave

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

httpx = pytest.importorskip("httpx")

openai = pytest.importorskip("openai")

LONG = "A first sentence for the window. " * 9 + "And then the last one."  # two bark-tiny pieces
SAMPLED = {"seed": 5, "max_tokens": 20}


@pytest.fixture(scope="module")
def server(tiny_artifact, chattts_artifact, tmp_path_factory, run_server):
    with run_server(tmp_path_factory.mktemp("serve"), f"bark={tiny_artifact}", f"chattts={chattts_artifact}",
                    "--batch-window-ms", "300", "--max-batch", "8") as s:
        yield s


def client(server) -> "openai.OpenAI":
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)


def speak(server, text: str, fmt: str = "pcm", **extra) -> bytes:
    return client(server).audio.speech.create(model=extra.pop("model", "bark"), voice=extra.pop("voice", "default"),
                                              input=text, response_format=fmt, extra_body=extra).content


def post(server, body, **kwargs) -> "httpx.Response":
    content = body if isinstance(body, (bytes, str)) else None
    return httpx.post(f"{server.url}/v1/audio/speech", json=None if content is not None else body, content=content,
                      timeout=120, headers=server.headers, **kwargs)


def test_the_openai_client_gets_wav_for_each_model(server):
    assert {m.id for m in client(server).models.list().data} == {"bark", "chattts"}
    for model, voice in (("bark", "default"), ("chattts", "seed-0")):
        audio = speak(server, "Hello from the server.", "wav", model=model, voice=voice, seed=1, max_tokens=16)
        with wave.open(io.BytesIO(audio)) as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
            assert w.getnframes() > 0


def test_the_seed_decides_the_audio(server):
    first, again, other = (speak(server, "Seeded words.", seed=s, max_tokens=20) for s in (3, 3, 4))
    assert first == again
    assert first != other


def test_the_stream_starts_before_the_end_and_equals_the_whole(server):
    whole = speak(server, LONG, **SAMPLED)
    started, chunks = time.perf_counter(), []
    with client(server).audio.speech.with_streaming_response.create(
            model="bark", voice="default", input=LONG, response_format="pcm",
            extra_body={**SAMPLED, "stream_format": "audio"}) as response:
        assert response.headers.get("transfer-encoding") == "chunked"
        for chunk in response.iter_bytes():
            chunks.append((time.perf_counter() - started, chunk))
    assert b"".join(c for _, c in chunks) == whole
    assert chunks[0][0] < chunks[-1][0], "all audio came at once: the first piece was not sent early"
    header = httpx.post(f"{server.url}/v1/audio/speech", timeout=120,
                        json={"model": "bark", "input": "Hi.", "stream_format": "audio", "response_format": "wav",
                              **SAMPLED}).content[:44]
    assert header[:4] == b"RIFF" and header[40:44] == b"\xff\xff\xff\xff"  # a stream of unknown length


def test_concurrent_requests_share_batches_and_get_their_solo_audio(server):
    seeds = [11, 12, 13, 14]
    alone = {s: speak(server, f"Words number {s}.", seed=s, max_tokens=20) for s in seeds}
    batches_before = server.metric("ttsx_batch_size_count", model="bark")
    pieces_before = server.metric("ttsx_batch_size_sum", model="bark")
    together: dict = {}
    threads = [threading.Thread(target=lambda s=s: together.update({s: speak(server, f"Words number {s}.", seed=s,
                                                                              max_tokens=20)})) for s in seeds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    batches = server.metric("ttsx_batch_size_count", model="bark") - batches_before
    assert server.metric("ttsx_batch_size_sum", model="bark") - pieces_before == len(seeds)
    assert batches < len(seeds), "no request was batched with another"
    for s in seeds:
        a = np.frombuffer(alone[s], "<i2").astype(int)
        b = np.frombuffer(together[s], "<i2").astype(int)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1, f"seed {s}: batched audio differs from solo"
    greedy = [speak(server, "Greedy words.", greedy=True, max_tokens=20, seed=s) for s in (1, 2)]
    assert greedy[0] == greedy[1], "greedy decoding depended on the seed"


@pytest.mark.parametrize("body, status, param", [
    (b"{not json", 400, None),
    ([1, 2], 400, None),
    ({"input": "Hi."}, 400, "model"),
    ({"model": "nope", "input": "Hi."}, 404, "model"),
    ({"model": "bark"}, 400, "input"),
    ({"model": "bark", "input": "   "}, 400, "input"),
    ({"model": "bark", "input": "x" * 4097}, 400, "input"),
    ({"model": "bark", "input": 5}, 400, "input"),
    (rb'{"model": "bark", "input": "hi \ud800 there"}', 400, "input"),  # a lone surrogate, escaped in the JSON
    (rb'{"model": "bark", "input": "Hi.", "voice": "v\udfff"}', 400, "voice"),
    ({"model": "bark", "input": "Hi.", "voice": "/etc/passwd"}, 400, "voice"),
    ({"model": "bark", "input": "Hi.", "voice": "../voices/x.npz"}, 400, "voice"),
    ({"model": "chattts", "input": "Hi.", "voice": "seed-99"}, 400, "voice"),
    ({"model": "bark", "input": "Hi.", "response_format": "mp3"}, 400, "response_format"),
    ({"model": "bark", "input": "Hi.", "speed": 1.5}, 400, "speed"),
    ({"model": "bark", "input": "Hi.", "stream_format": "sse"}, 400, "stream_format"),
    ({"model": "bark", "input": "Hi.", "instructions": "whisper"}, 400, "instructions"),
    ({"model": "bark", "input": "Hi.", "sed": 1}, 400, "sed"),
    ({"model": "bark", "input": "Hi.", "seed": "1"}, 400, "seed"),
    ({"model": "bark", "input": "Hi.", "seed": -1}, 400, "seed"),
    ({"model": "bark", "input": "Hi.", "greedy": 1}, 400, "greedy"),
    ({"model": "bark", "input": "Hi.", "temperature": 0}, 400, "temperature"),
    ({"model": "bark", "input": "Hi.", "temperature": 1e308}, 400, "temperature"),
    ({"model": "bark", "input": "Hi.", "temperature": 10.5}, 400, "temperature"),
    ({"model": "bark", "input": "Hi.", "top_p": 2.0}, 400, "top_p"),
    ({"model": "bark", "input": "Hi.", "max_tokens": 100_000}, 400, "max_tokens"),
    ({"model": "bark", "input": "Hi.", "max_tokens": True}, 400, "max_tokens"),
])
def test_bad_requests_get_a_json_error_naming_the_field(server, body, status, param):
    response = post(server, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["param"] == param and error["message"]


def test_an_oversized_body_is_refused_and_the_server_lives_on(server):
    response = post(server, b'{"model": "bark", "input": "' + b"x" * 70_000 + b'"}')
    assert response.status_code == 413 and "bytes" in response.json()["error"]["message"]
    assert httpx.get(f"{server.url}/health", timeout=10).json()["status"] == "ok"


def test_a_full_queue_answers_429_with_retry_after(tiny_artifact, tmp_path, run_server):
    with run_server(tmp_path, tiny_artifact, "--max-batch", "1", "--max-queue", "2", "--batch-window-ms", "0") as s:
        too_long = post(s, {"model": tiny_artifact.name, "input": f"{LONG} {LONG}"})  # 3 pieces > a queue of 2
        assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "input", too_long.text
        first = threading.Thread(target=post, args=(s, {"model": tiny_artifact.name, "input": LONG,
                                                        "max_tokens": 200}))
        first.start()
        s.wait_for(lambda: s.metric("ttsx_queue_depth") == 1, "the second piece to wait in the queue")
        response = post(s, {"model": tiny_artifact.name, "input": LONG})  # 1 waiting + 2 > 2
        first.join(120)
        assert response.status_code == 429, response.text
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("stream", [True, False])
def test_a_client_that_disconnects_cancels_its_work(tiny_artifact, tmp_path, stream, run_server):
    text = " ".join(["One more sentence to say here."] * 8 * 8)  # eight pieces
    with run_server(tmp_path, tiny_artifact, "--max-batch", "1", "--batch-window-ms", "0") as s:
        body = json.dumps({"model": tiny_artifact.name, "input": text, "max_tokens": 60, "response_format": "pcm",
                           **({"stream_format": "audio"} if stream else {})}).encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=120) as conn:  # raw: no wait for headers
            conn.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            if stream:
                assert conn.recv(64).startswith(b"HTTP/1.1 200")  # the first piece is on its way
            else:
                s.wait_for(lambda: s.metric("ttsx_batch_size_count") >= 1, "the first piece to run")
        s.wait_for(lambda: s.metric("ttsx_queue_depth") == 0, "the queue to empty")
        ran = s.metric("ttsx_batch_size_count")
        time.sleep(1.5)
        assert s.metric("ttsx_batch_size_count") == ran, "pieces kept running after the client left"
        assert ran < 8, f"{ran:.0f} of the request's 8 pieces ran after the client left"


def test_a_client_gone_before_its_body_is_complete_leaves_one_log_line(tiny_artifact, tmp_path, run_server):
    with run_server(tmp_path, tiny_artifact) as s:
        body = json.dumps({"model": tiny_artifact.name, "input": "Hello there."}).encode()
        with socket.create_connection(("127.0.0.1", s.port), timeout=60) as conn:
            conn.sendall(b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body) + 50, body))  # 50 bytes never sent
            time.sleep(0.5)
        s.wait_for(lambda: s.metric("ttsx_requests_total", status="499") >= 1, "the 499")
        assert httpx.get(f"{s.url}/health", timeout=10).status_code == 200
        s.log.seek(0)
        log = s.log.read()
    assert "Traceback" not in log and "ClientDisconnect" not in log, log[-2000:]


def test_sigterm_finishes_the_request_in_flight_then_exits(tiny_artifact, tmp_path, run_server):
    with run_server(tmp_path, tiny_artifact, "--max-batch", "1") as s:
        result = {}
        request = threading.Thread(target=lambda: result.update(
            r=post(s, {"model": tiny_artifact.name, "input": LONG, "max_tokens": 60, "response_format": "wav"})))
        request.start()
        s.wait_for(lambda: s.metric("ttsx_queue_depth") >= 1, "the request to be queued")
        s.process.send_signal(signal.SIGTERM)
        request.join(120)
        assert result["r"].status_code == 200
        assert s.process.wait(60) in (0, -signal.SIGTERM)  # uvicorn drains, then re-raises the signal
        with wave.open(io.BytesIO(result["r"].content)) as w:
            assert w.getnframes() * 2 == len(result["r"].content) - 44  # complete: every piece is in it


def test_an_api_key_is_required_when_set(tiny_artifact, tmp_path, run_server):
    with run_server(tmp_path, tiny_artifact, api_key="sesame") as s:
        body = {"model": tiny_artifact.name, "input": "Hi.", "max_tokens": 8}
        assert httpx.post(f"{s.url}/v1/audio/speech", json=body, timeout=60).status_code == 401
        wrong = httpx.post(f"{s.url}/v1/audio/speech", json=body, timeout=60, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(f"{s.url}/metrics", timeout=10).status_code == 401
        assert httpx.get(f"{s.url}/health", timeout=10).status_code == 200
        ok = openai.OpenAI(base_url=f"{s.url}/v1", api_key="sesame", max_retries=0).audio.speech.create(
            model=tiny_artifact.name, voice="default", input="Hi.", response_format="pcm", extra_body={"max_tokens": 8})
        assert len(ok.content) > 0


def test_binding_beyond_loopback_needs_an_api_key(tiny_artifact):
    result = subprocess.run([sys.executable, "-m", "ttsx", "serve", str(tiny_artifact), "--host", "0.0.0.0"],
                            capture_output=True, text=True, timeout=120, env={**os.environ, "TTSX_API_KEY": ""})
    assert result.returncode != 0
    assert "--api-key" in result.stderr and "TTSX_API_KEY" in result.stderr
