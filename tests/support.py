"""What the tests of every family share, imported as `ttsx_test_support` (tests/conftest.py loads it by path, so
tests/ never joins sys.path, where its folders would shadow installed packages such as ttsx).

Each family's test folder declares its own fixtures in a `fixtures.py` (tests/recipes/<family>/fixtures.py,
tests/plugin_family/fixtures.py), which tests/conftest.py finds and loads: adding a family adds no line here.
A fixtures.py may declare TENSORRT_ARTIFACTS = {recipe: fixture name} (the recipe exported with TensorRT's
cache flavour), which the engine-build tests run for every family.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


def load_beside(file: str, name: str):
    """The module `name`.py in the folder of `file`, imported by path (test folders are not on sys.path)."""
    path = Path(file).resolve().parent / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"ttsx_test_{path.parent.name}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_random(tmp_path_factory, recipe: str, folder: str, **options) -> Path:
    """`recipe` exported from seeded random weights (seed 0) into a fresh folder."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.source import ModelSource

    out = tmp_path_factory.mktemp("artifacts") / folder
    return export_artifact(ExportOptions(recipe, ModelSource("random", seed=0), out, **options))


def export_checkpoint(tmp_path_factory, recipe: str, location, folder: str, **options) -> Path:
    """`recipe` exported with `--model location` into a fresh folder."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.source import ModelSource

    out = tmp_path_factory.mktemp("artifacts") / folder
    return export_artifact(ExportOptions(recipe, ModelSource("checkpoint", location=str(location)), out, **options))


def copy_artifact(artifact, tmp_path, name: str) -> Path:
    """A private copy of `artifact` that a test may damage."""
    shutil.copytree(artifact, tmp_path / name)
    return tmp_path / name


def quantizer(source, tmp_path_factory, folder: str, **options):
    """make(precision) -> `source` at that precision (QuantizeOptions `options`), made once per test session."""
    from ttsx.app.quantize import quantize_artifact
    from ttsx.exporter.quantize import QuantizeOptions

    made = {}

    def make(precision):
        if precision not in made:
            out = tmp_path_factory.mktemp(folder) / precision
            made[precision] = quantize_artifact(QuantizeOptions(source, precision, out, **options))
        return made[precision]

    return make


def reference(recipe: str, source=None):
    """The family's PyTorch reference of `recipe` (seed 0 random weights unless `source`)."""
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    r = get_recipe(recipe)
    return get_family(r.family).load_reference(r, source or ModelSource("random", seed=0))


# -- `ttsx serve` processes -------------------------------------------------------------------------
START_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `ttsx serve`: its url, log and the headers a request needs."""

    def __init__(self, process: subprocess.Popen, port: int, log, headers: dict):
        self.process, self.port, self.log, self.headers = process, port, log, headers
        self.url = f"http://127.0.0.1:{port}"

    def metric(self, name: str, **labels) -> float:
        """The sum of /metrics samples called `name` whose labels include `labels` (0 if none)."""
        import httpx

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
    """A real `ttsx serve ARGS` process on a free loopback port, up when entered and always stopped after;
    skips where the serve extra is missing."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e '.[serve]'")
    import httpx

    port = free_port()
    log = open(Path(tmp_path) / f"serve-{port}.log", "w+")
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
