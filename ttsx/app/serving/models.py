"""What the HTTP app needs of a served artifact, whatever runs it: this process (a Batcher) or Ray Serve.

    prepare(text, voice, SynthesisOptions) -> Prepared (the text's pieces, each with its seed)
    submit(prepared) -> one asyncio future per piece (its waveform), in order
    submit_stream(prepared) -> one async iterator of chunks per piece, in order (streamed inside each piece
        where the family streams that way, else one chunk per piece)
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ttsx.base.errors import TtsxError
from ttsx.runtimes.pipeline import Piece, Pipeline, SynthesisOptions, fresh_seed

from .batcher import Batcher, ChunkSink

_END = object()


class ChunkStream(ChunkSink):
    """A piece's chunks handed from the worker thread to the event loop: an async iterator; cancel() stops the
    worker making more."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop, self._queue = loop, asyncio.Queue()

    def put(self, chunk) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, chunk)

    def end(self) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, _END)

    def fail(self, exc: BaseException) -> None:
        self._loop.call_soon_threadsafe(self._queue.put_nowait, exc)

    def cancel(self) -> None:
        self.cancelled = True

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self._queue.get()
        if item is _END:
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            raise item
        return item


class WholePiece:
    """A piece's future as a stream of one chunk (families that stream piece by piece; Ray Serve)."""

    def __init__(self, future: asyncio.Future):
        self.future, self._done = future, False

    def cancel(self) -> None:
        self.future.cancel()

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._done:
            raise StopAsyncIteration
        self._done = True
        return await self.future


def whole_pieces(futures: list[asyncio.Future]) -> list[WholePiece]:
    return [WholePiece(f) for f in futures]


@dataclass(frozen=True)
class ModelInfo:
    """What /v1/models and request checks need to know of a model."""

    name: str
    family: str
    sample_rate: int
    voices: tuple[str, ...]
    max_tokens: int
    instructions: bool = False  # whether requests may carry instructions (a description of the voice)


@dataclass(frozen=True)
class Prepared:
    """A checked request: its pieces (seeded), the voice preset name (None: none), the family's options."""

    pieces: tuple[Piece, ...]
    voice: str | None
    options: object


def model_info(name: str, pipeline: Pipeline) -> ModelInfo:
    return ModelInfo(name, pipeline.artifact.manifest["family"], pipeline.sample_rate, tuple(pipeline.voices),
                     pipeline.recipe.limits.max_tokens, pipeline.reads_instructions)


def prepare(pipeline: Pipeline, text: str, voice: str | None, options: SynthesisOptions) -> Prepared:
    """Split and seed a request's text (TtsxError for what the pipeline refuses). Voices are names only."""
    if voice is not None and voice not in pipeline.voices:
        raise TtsxError(f"unknown voice {voice!r}")  # the app checks first; never a path here
    family_options = pipeline.options(options)
    seed = fresh_seed() if options.seed is None else options.seed
    pieces = tuple(Piece(t, seed, k) for k, t in enumerate(pipeline.split(text, family_options)))
    return Prepared(pieces, voice, family_options)


class LocalModel:
    """An artifact served from this process: its pipeline behind a Batcher."""

    def __init__(self, name: str, pipeline: Pipeline, window_s: float, max_batch: int, max_queue: int,
                 on_batch=lambda name, report: None, join: bool = True):
        self.pipeline = pipeline
        self.info = model_info(name, pipeline)
        self.batcher = Batcher(pipeline, window_s, max_batch, max_queue, lambda r: on_batch(name, r), join)

    @classmethod
    def load(cls, name: str, artifact: str | Path, backend: str = "onnxruntime", session_options: dict | None = None,
             **batching) -> "LocalModel":
        import ttsx

        return cls(name, ttsx.load(artifact, backend=backend, **(session_options or {})), **batching)

    @property
    def depth(self) -> int:
        return self.batcher.depth

    async def prepare(self, text: str, voice: str | None, options: SynthesisOptions) -> Prepared:
        return await asyncio.to_thread(prepare, self.pipeline, text, voice, options)

    def submit(self, prepared: Prepared, stream: bool = False) -> list[asyncio.Future]:
        futures = self.batcher.submit(list(prepared.pieces), prepared.voice, prepared.options, stream)
        return [asyncio.wrap_future(f) for f in futures]

    def submit_stream(self, prepared: Prepared) -> list:
        """Each piece as the family streams it: chunk by chunk inside the piece where it can, else whole."""
        if not self.pipeline.streams_inside_pieces:
            return whole_pieces(self.submit(prepared, stream=True))
        sinks = [ChunkStream(asyncio.get_running_loop()) for _ in prepared.pieces]
        self.batcher.submit(list(prepared.pieces), prepared.voice, prepared.options, stream=True, sinks=sinks)
        return sinks

    def close(self) -> None:
        self.batcher.close()
        self.pipeline.close()

