"""`ttsx serve`: load artifacts, refuse unsafe binds, run the app under uvicorn (SIGTERM finishes requests in flight)."""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ttsx.base.errors import TtsxError

API_KEY_ENV = "TTSX_API_KEY"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Batching:
    window_ms: float = 20.0  # how long a batch's first piece waits for company
    max_batch: int = 8  # pieces per batch; 1 turns batching off
    max_queue: int = 64  # pieces waiting, at most; past it: 429 with Retry-After
    join: bool = True  # streamed pieces join a running batch at a step (families with a StreamPool)

    def __post_init__(self):
        if self.window_ms < 0 or self.max_batch < 1 or self.max_queue < 1:
            raise TtsxError("--batch-window-ms must be >= 0, --max-batch and --max-queue >= 1")


def model_names(artifacts: list[str]) -> dict[str, Path]:
    """NAME=DIR or DIR (named after the directory) -> {name: dir}; names are what clients send as `model`."""
    named: dict[str, Path] = {}
    for item in artifacts:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).resolve().name, item
        if not NAME.match(name):
            raise TtsxError(f"model name {name!r} must be letters, digits, '.', '_' or '-' (at most 64); "
                            "name it with NAME=DIR")
        if name in named:
            raise TtsxError(f"two artifacts are both named {name!r}; name one with NAME=DIR")
        named[name] = Path(path)
    return named


def check_bind(host: str, api_key: str | None) -> None:
    """Loopback binds need nothing; any other address needs an API key."""
    if api_key:
        return
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise TtsxError(f"binding to {host} exposes the server beyond this machine; give --api-key KEY or set "
                        f"{API_KEY_ENV} (clients send 'Authorization: Bearer KEY'), or bind to 127.0.0.1")


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key or os.environ.get(API_KEY_ENV) or None


def serve(artifacts: list[str], host: str = "127.0.0.1", port: int = 8000, backend: str = "onnxruntime",
          batching: Batching = Batching(), api_key: str | None = None, session_options: dict | None = None,
          log=print) -> None:
    """Load every artifact, then serve until SIGINT/SIGTERM (both finish the requests in flight)."""
    try:
        import uvicorn

        from .app import create_app
        from .metrics import Metrics
        from .models import LocalModel
    except ImportError as exc:
        raise TtsxError(f"serving needs the serve extra ({exc.name} is missing): pip install 'ttsx[serve]'") from None
    api_key = resolve_api_key(api_key)
    check_bind(host, api_key)
    names = model_names(artifacts)
    metrics = Metrics()
    models: dict[str, LocalModel] = {}
    try:
        for name, path in names.items():
            log(f"loading {name} from {path} ({backend})")
            models[name] = LocalModel.load(name, path, backend, session_options, window_s=batching.window_ms / 1000,
                                           max_batch=batching.max_batch, max_queue=batching.max_queue,
                                           join=batching.join,
                                           on_batch=metrics.batch)
    except BaseException:
        for model in models.values():
            model.close()
        raise

    def close_all():
        for model in models.values():
            model.close()

    app = create_app(models, api_key, metrics, on_shutdown=close_all)
    log(f"serving {', '.join(names)} on http://{host}:{port}/v1/audio/speech "
        f"(batching: window {batching.window_ms:g} ms, max batch {batching.max_batch}, queue {batching.max_queue}, "
        f"streams joining a running batch: {'on' if batching.join else 'off'})")
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=300)
