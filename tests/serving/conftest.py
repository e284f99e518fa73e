"""Real `ttsx serve` processes on loopback ports, started once per module or test and always stopped."""
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
httpx = pytest.importorskip("httpx")

START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log, headers: dict):
        self.process, self.port, self.log, self.headers = process, port, log, headers
        self.url = f"http://127.0.0.1:{port}"

    def metric(self, name: str, **labels) -> float:
        """The sum of /metrics samples called `name` whose labels include `labels` (0 if none)."""
        text = httpx.get(f"{self.url}/metrics", timeout=10, headers=self.headers).text
        total = 0.0
        for line in text.splitlines():
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def wait_for(self, condition, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def run_server(tmp_path, *args, api_key: str | None = None):
    port = free_port()
    log = open(tmp_path / f"serve-{port}.log", "w+")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("TTSX_API_KEY", None)
    process = subprocess.Popen([sys.executable, "-m", "ttsx", "serve", *map(str, args), "--port", str(port)]
                               + (["--api-key", api_key] if api_key else []),
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    server = Server(process, port, log, {"Authorization": f"Bearer {api_key}"} if api_key else {})
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise AssertionError(f"ttsx serve exited with {process.returncode}:\n{log.read()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("ttsx serve did not come up")
            time.sleep(0.25)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
