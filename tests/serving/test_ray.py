"""`ttsx serve --ray`: the same endpoint on a local Ray Serve instance, with Ray's batching (a real server process)."""
import signal
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")

from .test_server import LONG, openai

pytest.importorskip("ray.serve", reason="NOT CHECKED: Ray Serve (pip install -e '.[ray]')")


def test_ray_serve_answers_batches_and_streams(tiny_artifact, tmp_path, run_server):
    with run_server(tmp_path, "--ray", f"bark={tiny_artifact}", "--batch-window-ms", "300") as s:
        client = openai.OpenAI(base_url=f"{s.url}/v1", api_key="unused", max_retries=0, timeout=300)

        def speak(text, seed, **extra):
            return client.audio.speech.create(model="bark", voice="default", input=text, response_format="pcm",
                                              extra_body={"seed": seed, "max_tokens": 20, **extra}).content

        assert [m.id for m in client.models.list().data] == ["bark"]
        alone = {seed: speak(f"Words number {seed}.", seed) for seed in range(4)}
        together = {}
        threads = [threading.Thread(target=lambda k=k: together.update({k: speak(f"Words number {k}.", k)}))
                   for k in range(4)]
        batches_before = s.metric("ttsx_batch_size_count", model="bark")
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        assert s.metric("ttsx_batch_size_count", model="bark") - batches_before < 4, "Ray batched nothing"
        for k in range(4):
            a, b = (np.frombuffer(x, "<i2").astype(int) for x in (alone[k], together[k]))
            assert a.shape == b.shape and np.abs(a - b).max() <= 1

        whole = speak(LONG, 9)
        with client.audio.speech.with_streaming_response.create(
                model="bark", voice="default", input=LONG, response_format="pcm",
                extra_body={"seed": 9, "max_tokens": 20, "stream_format": "audio"}) as response:
            assert b"".join(response.iter_bytes()) == whole

        bad = client.with_options(max_retries=0)
        with pytest.raises(openai.BadRequestError, match="voice"):
            bad.audio.speech.create(model="bark", voice="/etc/passwd", input="Hi.")

        s.process.send_signal(signal.SIGTERM)
        assert s.process.wait(120) in (0, -signal.SIGTERM)
