"""The HTTP application: OpenAI's `POST /v1/audio/speech`, `/v1/models`, `/health`, `/metrics`.

The app only speaks to models (ttsx/app/serving/models.py): in this process or on Ray Serve, the same
routes, checks and streaming. Errors are OpenAI-shaped JSON: {"error": {"message", "type", "param"}}.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

from ttsx.base.audio import pcm16, wav_header
from ttsx.base.errors import TtsxError
from ttsx.runtimes.pipeline import SynthesisOptions

from .batcher import QueueFull
from .metrics import Metrics

MAX_INPUT_CHARS = 4096  # OpenAI's limit for `input`
MAX_INSTRUCTIONS_CHARS = 4096  # OpenAI's limit for `instructions`
MAX_BODY_BYTES = 64 * 1024
FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm"}  # pcm: 16-bit little-endian mono at the model's rate
OPENAI_FIELDS = {"model", "input", "voice", "response_format", "speed", "stream_format", "instructions"}
TTSX_FIELDS = {"seed": int, "temperature": float, "top_k": int, "top_p": float, "greedy": bool, "max_tokens": int}
DISCONNECT_POLL_S = 0.1


class ApiError(Exception):
    """A request the server refuses: HTTP status, message (what and how to fix), the field at fault."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.headers = status, message, param, code, headers

    def response(self) -> JSONResponse:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        body = {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    input: str
    voice: str | None  # None: the model's default (no preset)
    response_format: str
    stream: bool
    options: SynthesisOptions


def parse_speech_request(body: bytes, models: dict) -> SpeechRequest:
    """The request's fields, checked; ApiError naming the field otherwise."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc}); send a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    unknown = sorted(set(data) - OPENAI_FIELDS - set(TTSX_FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0]!r}; accepted: {', '.join(sorted(OPENAI_FIELDS | set(TTSX_FIELDS)))}",
                       unknown[0])
    model = _field(data, "model", str, required=True)
    if model not in models:
        raise ApiError(404, f"model {model!r} is not served here; GET /v1/models lists {', '.join(sorted(models))}",
                       "model", "model_not_found")
    info = models[model].info
    text = _field(data, "input", str, required=True)
    if not text.strip():
        raise ApiError(400, "input is empty; give the text to speak", "input")
    if len(text) > MAX_INPUT_CHARS:
        raise ApiError(400, f"input has {len(text)} characters; at most {MAX_INPUT_CHARS}", "input")
    voice = _field(data, "voice", str, default="default")
    if voice != "default" and voice not in info.voices:
        known = ", ".join(("default",) + info.voices)
        raise ApiError(400, f"unknown voice {voice[:80]!r} for {model}; voices: {known}", "voice")
    fmt = _field(data, "response_format", str, default="wav")
    if fmt not in FORMATS:
        raise ApiError(400, f"response_format {fmt[:20]!r} is not supported; use one of {', '.join(FORMATS)}",
                       "response_format")
    speed = _field(data, "speed", float, default=1.0)
    if speed != 1.0:
        raise ApiError(400, f"speed {speed} is not supported: the models speak at their own pace; send 1.0 or omit it",
                       "speed")
    stream_format = _field(data, "stream_format", str, default=None)
    if stream_format not in (None, "audio"):
        raise ApiError(400, f"stream_format {stream_format[:20]!r} is not supported; use 'audio' (chunked audio) "
                       "or omit it", "stream_format")
    instructions = _field(data, "instructions", str, default=None) or None
    if instructions is not None and not info.instructions:
        raise ApiError(400, f"{model} takes no instructions (its voices are presets: use voice); omit the field",
                       "instructions")
    if instructions is not None and len(instructions) > MAX_INSTRUCTIONS_CHARS:
        raise ApiError(400, f"instructions have {len(instructions)} characters; at most {MAX_INSTRUCTIONS_CHARS}",
                       "instructions")
    values = {name: _field(data, name, kind, default=None) for name, kind in TTSX_FIELDS.items()}
    if values["max_tokens"] is not None and not 1 <= values["max_tokens"] <= info.max_tokens:
        raise ApiError(400, f"max_tokens must be in 1..{info.max_tokens} for {model}", "max_tokens")
    try:
        options = SynthesisOptions(greedy=bool(values.pop("greedy")), instructions=instructions, **values)
    except TtsxError as exc:
        raise ApiError(400, str(exc), str(exc).split(" ", 1)[0]) from None
    return SpeechRequest(model, text, None if voice == "default" else voice, fmt, stream_format == "audio", options)


def _field(data: dict, name: str, kind: type, required: bool = False, default=None):
    if name not in data or data[name] is None:
        if required:
            raise ApiError(400, f"{name} is required", name)
        return default
    value = data[name]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ApiError(400, f"{name} must be a {kind.__name__} (got {type(value).__name__})", name)
    if kind is str:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:  # JSON may escape a lone surrogate ("\ud800"), which no text can hold
            raise ApiError(400, f"{name} is not valid Unicode ({exc.reason} at position {exc.start}); "
                           "send UTF-8 text without lone surrogates", name) from None
    return value


class ApiKeyGuard:
    """Pure ASGI middleware (keeps disconnect detection intact): every path but /health needs the Bearer key."""

    def __init__(self, app, api_key: str):
        self.app, self.expected = app, f"Bearer {api_key}".encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"] != "/health":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = ApiError(401, "missing or wrong API key; send 'Authorization: Bearer <key>'",
                                    code="invalid_api_key").response()
                return await response(scope, receive, send)
        await self.app(scope, receive, send)


def create_app(models: dict, api_key: str | None = None, metrics: Metrics | None = None,
               on_shutdown=lambda: None) -> FastAPI:
    """The FastAPI app over `models` (name -> LocalModel or a Ray-backed model); Bearer `api_key` if given."""
    metrics = metrics or Metrics()

    @asynccontextmanager
    async def lifespan(app):
        yield
        on_shutdown()  # uvicorn has finished the requests in flight (SIGTERM drains)

    app = FastAPI(title="ttsx", version="1", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    if api_key:
        app.add_middleware(ApiKeyGuard, api_key=api_key)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return exc.response()

    @app.get("/health")
    async def health():
        return {"status": "ok", "models": sorted(models)}

    @app.get("/v1/models")
    async def list_models():
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "ttsx",
                                            "family": m.info.family, "voices": ["default", *m.info.voices],
                                            "sample_rate": m.info.sample_rate, "instructions": m.info.instructions}
                                           for name, m in sorted(models.items())]}

    @app.get("/metrics")
    async def prometheus():
        for name, model in models.items():
            metrics.queue_depth.labels(name).set(getattr(model, "depth", 0))
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/v1/audio/speech")
    async def speech(request: Request):
        started, name = time.perf_counter(), "-"
        try:
            req = parse_speech_request(await _body(request), models)
            model, name = models[req.model], req.model
            try:
                prepared = await model.prepare(req.input, req.voice, req.options)
            except TtsxError as exc:
                raise ApiError(400, str(exc), "input") from None
            try:
                futures = model.submit_stream(prepared) if req.stream else model.submit(prepared)
            except TtsxError as exc:
                raise ApiError(400, str(exc), "input") from None
            except QueueFull as exc:
                raise ApiError(429, f"{exc}; the server is at its queue limit", code="rate_limit_exceeded",
                               headers={"Retry-After": str(exc.retry_after)}) from None
        except ApiError as exc:
            metrics.requests.labels(name, str(exc.status)).inc()
            return exc.response()
        rate = model.info.sample_rate
        if req.stream:
            return StreamingResponse(_stream(req, futures, rate, started, metrics), media_type=FORMATS[req.response_format])
        try:
            audio = await _collect(request, futures)
        except Exception as exc:  # noqa: BLE001 - a failed batch fails its requests, not the server
            metrics.requests.labels(name, "500").inc()
            return ApiError(500, f"synthesis failed: {type(exc).__name__}: {exc}").response()
        if audio is None:  # the client went away; its pieces were cancelled
            metrics.requests.labels(req.model, "499").inc()
            return Response(status_code=499)
        pcm = b"".join(pcm16(a) for a in audio)
        n = sum(len(a) for a in audio)
        metrics.done(req.model, time.perf_counter() - started, None, n / rate)
        head = wav_header(rate, n) if req.response_format == "wav" else b""
        return Response(head + pcm, media_type=FORMATS[req.response_format])

    return app


async def _body(request: Request) -> bytes:
    """The whole body (at most MAX_BODY_BYTES); a client gone before sending it all is a 499 (one access-log
    line, nothing run), not a traceback."""
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(413, f"the request body is over {MAX_BODY_BYTES} bytes; input is at most "
                               f"{MAX_INPUT_CHARS} characters")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(499, "the client disconnected before its request body was complete") from None
    return b"".join(chunks)


async def _collect(request: Request, futures: list[asyncio.Future]):
    """Every piece's audio, or None (and the pieces cancelled) if the client disconnects first."""
    gathered = asyncio.gather(*futures)
    try:
        while True:
            done, _ = await asyncio.wait({gathered}, timeout=DISCONNECT_POLL_S)
            if done:
                return gathered.result()
            if await request.is_disconnected():
                return None
    finally:
        if not gathered.done():
            gathered.cancel()
            for f in futures:
                f.cancel()


async def _stream(req: SpeechRequest, pieces: list, rate: int, started: float, metrics: Metrics):
    """Chunked audio: the header (wav), then each chunk as soon as it is made (inside a piece where the family
    streams that way, else each piece when it and the ones before it are done).

    A client that disconnects ends this generator (Starlette cancels it): its chunks and pieces not run are
    cancelled.
    """
    first, n = None, 0
    try:
        if req.response_format == "wav":
            yield wav_header(rate, None)
        for piece in pieces:
            async for audio in piece:
                if not len(audio):
                    continue
                if first is None:
                    first = time.perf_counter() - started
                n += len(audio)
                yield pcm16(audio)
        metrics.done(req.model, time.perf_counter() - started, first, n / rate)
    finally:
        for piece in pieces:
            piece.cancel()
