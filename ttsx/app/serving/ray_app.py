"""The same app on Ray Serve: one deployment per artifact (replicas, Ray's `@serve.batch`), one HTTP ingress.

    ingress (the FastAPI app of app.py) ──handle──> SpeechDeployment[name] x replicas
        prepare(text, voice, options)   split and seed on a replica
        run_piece(piece, voice, options) batched by Ray Serve (max batch, wait timeout), grouped like the Batcher

Streamed requests send their pieces one after another (the first is sent as soon as it is done), the
others all at once so that Ray batches them. `ttsx serve --ray` runs this on a local Ray instance (or
the cluster at RAY_ADDRESS); `serve run ttsx.app.serving.ray_app:build ...` takes the same arguments.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict

import numpy as np
from ray import serve

from ttsx.base.errors import TtsxError

from .batcher import BatchReport, batch_group
from .models import ModelInfo, Prepared, model_info, prepare, whole_pieces


@serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 0})  # its runtime sizes its own threads
class SpeechDeployment:
    """One artifact's pipeline on a replica; Ray Serve batches `run_piece` calls."""

    def __init__(self, name: str, artifact: str, backend: str, session_options: dict, max_batch: int,
                 window_s: float):
        import ttsx

        self.name = name
        self.pipeline = ttsx.load(artifact, backend=backend, **session_options)
        self.replica = uuid.uuid4().hex[:8]
        self.batches = itertools.count()
        self.run_piece.set_max_batch_size(max_batch)
        self.run_piece.set_batch_wait_timeout_s(window_s)

    def info(self) -> ModelInfo:
        return model_info(self.name, self.pipeline)

    def prepare(self, text: str, voice: str | None, options) -> Prepared | str:
        """The request's pieces, or the pipeline's refusal as a message (a TtsxError)."""
        try:
            return prepare(self.pipeline, text, voice, options)
        except TtsxError as exc:
            return str(exc)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def run_piece(self, jobs: list[tuple]) -> list[tuple]:
        """jobs: (piece, voice, options) each; -> (waveform, batch id, batch size, seconds) each."""
        out: list = [None] * len(jobs)
        groups: dict = {}
        for i, (piece, voice, options) in enumerate(jobs):
            groups.setdefault(batch_group(voice, options), []).append(i)
        for index in groups.values():
            piece, voice, options = jobs[index[0]]
            start = time.perf_counter()
            audio = await asyncio.to_thread(self._run, [jobs[i][0] for i in index], voice, options)
            batch_id, seconds = f"{self.replica}-{next(self.batches)}", time.perf_counter() - start
            for i, a in zip(index, audio):
                out[i] = (np.asarray(a, np.float32), batch_id, len(index), seconds)
        return out

    def _run(self, pieces, voice, options):
        from ttsx.runtimes.pipeline import Speech

        voice_data = self.pipeline.load_voice(voice) if voice is not None else None
        return self.pipeline.run_pieces(pieces, voice_data, options, Speech([], self.pipeline.sample_rate),
                                        lambda m: None)


class RayModel:
    """What the app needs of a model (models.py), over a SpeechDeployment handle."""

    def __init__(self, handle, info: ModelInfo, on_batch=lambda name, report: None):
        self.handle, self.info, self._on_batch = handle, info, on_batch
        self._seen: OrderedDict[str, None] = OrderedDict()

    async def prepare(self, text: str, voice: str | None, options) -> Prepared:
        result = await self.handle.prepare.remote(text, voice, options)
        if isinstance(result, str):
            raise TtsxError(result)
        return result

    def submit(self, prepared: Prepared, stream: bool = False) -> list[asyncio.Future]:
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in prepared.pieces]
        jobs = [(p, prepared.voice, prepared.options) for p in prepared.pieces]
        if stream:  # one piece at a time: the first is done (and sent) before the next is asked for
            task = asyncio.ensure_future(self._in_order(jobs, futures))
        else:
            task = asyncio.ensure_future(asyncio.gather(*(self._one(j, f) for j, f in zip(jobs, futures))))
        for f in futures:
            f.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
        return futures

    def submit_stream(self, prepared: Prepared) -> list:
        """Ray Serve runs whole pieces: each piece is one chunk, sent in order as it is done."""
        return whole_pieces(self.submit(prepared, stream=True))

    async def _in_order(self, jobs, futures):
        for job, future in zip(jobs, futures):
            await self._one(job, future)

    async def _one(self, job, future: asyncio.Future):
        if future.done():
            return
        response = self.handle.run_piece.remote(job)
        try:
            audio, batch_id, size, seconds = await response
        except asyncio.CancelledError:
            response.cancel()
            raise
        except Exception as exc:  # noqa: BLE001 - the request gets the error
            if not future.done():
                future.set_exception(exc)
            return
        if batch_id not in self._seen:
            self._seen[batch_id] = None
            if len(self._seen) > 4096:
                self._seen.popitem(last=False)
            self._on_batch(self.info.name, BatchReport(size, seconds, 0.0))
        if not future.done():
            future.set_result(audio)


@serve.deployment(ray_actor_options={"num_cpus": 0})
@serve.ingress()
class SpeechIngress:
    """The HTTP side: app.py's routes over the artifacts' deployments."""

    def __init__(self, handles: dict, api_key: str | None):
        self.handles, self.api_key = handles, api_key

    async def __serve_build_asgi_app__(self):
        from .app import create_app
        from .metrics import Metrics

        metrics = Metrics()
        models = {}
        for name, handle in self.handles.items():
            info = await handle.info.remote()
            models[name] = RayModel(handle, info, metrics.batch)
        return create_app(models, self.api_key, metrics)


def build(artifacts: dict, backend: str = "onnxruntime", session_options: dict | None = None, max_batch: int = 8,
          window_s: float = 0.02, replicas: int = 1, api_key: str | None = None):
    """The Ray Serve application: {name: artifact dir} -> ingress bound to one deployment per artifact."""
    handles = {name: SpeechDeployment.options(name=f"ttsx-{name}", num_replicas=replicas).bind(
        name, str(path), backend, session_options or {}, max_batch, window_s) for name, path in artifacts.items()}
    return SpeechIngress.bind(handles, api_key)


def serve_on_ray(artifacts: list[str], host: str, port: int, backend: str, batching, api_key: str | None,
                 session_options: dict, replicas: int, log=print) -> None:
    """`ttsx serve --ray`: deploy on Ray Serve (local unless RAY_ADDRESS), serve until SIGINT/SIGTERM."""
    import ray

    from .server import check_bind, model_names, resolve_api_key

    api_key = resolve_api_key(api_key)
    check_bind(host, api_key)
    names = {name: path.resolve() for name, path in model_names(artifacts).items()}
    for name, path in names.items():
        if not (path / "manifest.json").is_file():
            raise TtsxError(f"{path} is not an artifact (no manifest.json); give the directory `ttsx export` wrote")
    ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(build(names, backend, session_options, batching.max_batch, batching.window_ms / 1000, replicas,
                        api_key), name="ttsx", route_prefix="/")
        log(f"serving {', '.join(names)} on Ray Serve at http://{host}:{port}/v1/audio/speech "
            f"({replicas} replica(s) per artifact, max batch {batching.max_batch}, wait {batching.window_ms:g} ms)")
        stop.wait()
        log("stopping: Ray Serve finishes the requests in flight")
    finally:
        try:
            serve.delete("ttsx")  # replicas finish their requests (graceful_shutdown_timeout_s)
        finally:
            ray.shutdown()
