"""Request batching for one artifact: text pieces from concurrent requests run as one batch per stage.

    request --split--> pieces ──submit──> queue ──worker thread: gather (window, max batch, same group)──>
        pipeline.run_pieces(batch) ──> one future per piece (audio)
    streamed piece (a sink) ──> pipeline.stream_piece: one chunk per turn, its streams taking turns with each
        other and with the batches, each chunk handed to the sink as soon as it is made
    ... or, where the family has a StreamPool (join=True): the piece joins the pool's running batch at the
        next step (continuous batching) and leaves it when done; one pool step per turn

Only pieces of the same group (voice and options, the seed aside) share a batch; each piece keeps its
own random streams (runtimes/pipeline.py), so a seeded or greedy request gets the same audio batched
as alone. A streamed request has at most one piece per batch, so its first piece is done (and sent)
before the rest are run; a non-streamed request's pieces batch together. The queue is bounded
(QueueFull past it); a cancelled future is dropped before it runs.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ttsx.base.errors import TtsxError
from ttsx.runtimes.pipeline import Piece, Pipeline, Speech, StreamOptions, StreamPool


class ChunkSink:
    """Where a piece streamed inside itself goes, chunk by chunk; called from the worker thread."""

    cancelled = False  # the request is gone: stop making its chunks

    def put(self, chunk: np.ndarray) -> None:
        raise NotImplementedError

    def end(self) -> None:
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        raise NotImplementedError


class QueueFull(Exception):
    """The queue has no room for a request's pieces; `retry_after` is a guess in whole seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"the queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass
class Job:
    piece: Piece
    voice: str | None
    options: object  # the family's options
    group: tuple
    future: Future
    request: int  # which request the piece belongs to
    stream: bool  # a streamed request: one piece per batch, in order
    sink: object = None  # streamed inside the piece: put(chunk), end(), fail(exc), cancelled (ChunkSink)


@dataclass
class BatchReport:
    """What one batch did (for metrics)."""

    size: int
    seconds: float
    audio_seconds: float


def batch_group(voice: str | None, options) -> tuple:
    """Pieces that may share a batch: same voice, same options once the per-text seed is set aside."""
    return voice, dataclasses.replace(options, seed=None, batch_size=1)


class Batcher:
    """One worker thread over one pipeline: a bounded FIFO of pieces, run in batches.

    window_s: how long the first piece of a batch waits for company; max_batch: pieces per batch
    (1 turns batching off); max_queue: pieces waiting, at most.
    """

    def __init__(self, pipeline: Pipeline, window_s: float = 0.02, max_batch: int = 8, max_queue: int = 64,
                 on_batch: Callable[[BatchReport], None] = lambda report: None, join: bool = True):
        if max_batch < 1 or max_queue < 1 or window_s < 0:
            raise ValueError("max_batch and max_queue must be >= 1 and window_s >= 0")
        self.pipeline, self.window_s, self.max_batch, self.max_queue = pipeline, window_s, max_batch, max_queue
        self._on_batch = on_batch
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._requests = 0
        self._streams: list[tuple] = []  # (job, its chunk generator, start time, [samples sent]), taking turns
        self._streaming: set[int] = set()  # requests with a piece streaming now
        self._interleave = pipeline.interleaves_streams
        self._join = join and max_batch > 1 and self._interleave  # streamed pieces join a StreamPool's batch
        self._pool: StreamPool | None = None  # of one group, max_batch rows; closed when it empties
        self._pool_group: tuple | None = None
        self._pooled: dict[int, tuple] = {}  # id(handle) -> (job, handle, start time, [samples sent])
        self._voices: dict[str, object] = {}
        self._batch_seconds = 1.0  # running mean, for Retry-After
        self._thread = threading.Thread(target=self._loop, name="ttsx-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Pieces waiting (not yet running)."""
        return len(self._queue)

    def submit(self, pieces: list[Piece], voice: str | None, options, stream: bool = False,
               sinks: list[ChunkSink] | None = None) -> list[Future]:
        """Queue a request's pieces (in order); one Future per piece resolving to its waveform, or with `sinks`
        (one per piece, a streamed request) each piece streamed inside itself into its sink (its future then
        resolves to None at its end)."""
        if len(pieces) > self.max_queue:
            raise TtsxError(f"the input splits into {len(pieces)} pieces and this server queues at most "
                            f"{self.max_queue}; send a shorter input (or raise --max-queue)")
        group = batch_group(voice, options)
        with self._cond:
            self._requests += 1
            jobs = [Job(p, voice, options, group, Future(), self._requests, stream or bool(sinks),
                        sinks[k] if sinks else None) for k, p in enumerate(pieces)]
            if self._stopping:
                raise QueueFull(5)
            if len(self._queue) + len(jobs) > self.max_queue:
                batches_ahead = math.ceil((len(self._queue) + 1) / self.max_batch)
                raise QueueFull(max(1, math.ceil(batches_ahead * self._batch_seconds)))
            self._queue.extend(jobs)
            self._cond.notify()
        return [j.future for j in jobs]

    def close(self, timeout: float | None = None) -> None:
        """Finish what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            batch = self._gather(wait=not self._busy)
            if batch is None:
                return
            live = [j for j in batch if j.future.set_running_or_notify_cancel()]
            for job in live:
                if job.sink is not None:
                    self._start_stream(job)
            rest = [j for j in live if j.sink is None]
            if rest:
                self._run(rest)
            self._advance_streams()

    @property
    def _busy(self) -> bool:
        """Streams are running (the worker must not sleep waiting for new pieces)."""
        return bool(self._streams or self._pooled)

    def _start_stream(self, job: Job) -> None:
        if self._join_pool(job):
            return
        try:
            chunks = self.pipeline.stream_piece(job.piece, self._voice(job.voice), job.options, StreamOptions(),
                                                Speech([], self.pipeline.sample_rate), lambda m: None)
        except BaseException as exc:  # noqa: BLE001 - the request gets the error, the thread lives on
            self._end_stream(job, exc)
            return
        self._streams.append((job, chunks, time.perf_counter(), [0]))
        self._streaming.add(job.request)

    def _join_pool(self, job: Job) -> bool:
        """Put a streamed piece into the pool's running batch (opening a pool for its group if none is open);
        False where it can't join (no pool for this family, another group's pool, no free row)."""
        if not self._join:
            return False
        try:
            if self._pool is None:
                self._pool = self.pipeline.stream_pool(self._voice(job.voice), job.options, self.max_batch)
                if self._pool is None:
                    self._join = False  # the family has none: its streams take turns
                    return False
                self._pool_group = job.group
            if self._pool_group != job.group or not self._pool.free:
                return False
            handle = self._pool.add(job.piece, StreamOptions())
        except BaseException as exc:  # noqa: BLE001 - the request gets the error, the thread lives on
            self._end_stream(job, exc)
            self._close_pool_if_empty()
            return True
        self._pooled[id(handle)] = (job, handle, time.perf_counter(), [0])
        self._streaming.add(job.request)
        return True

    def _advance_pool(self) -> None:
        """One step of the pool's batch: each piece's finished chunks to its sink; ended pieces leave."""
        for key, (job, handle, _, _) in list(self._pooled.items()):
            if job.sink.cancelled:
                self._pool.cancel(handle)
                del self._pooled[key]
                self._end_stream(job, None, cancelled=True)
        if not self._pooled:
            self._close_pool_if_empty()
            return
        try:
            turns = self._pool.advance()
        except BaseException as exc:  # noqa: BLE001 - the batch's requests get the error, the thread lives on
            for job, _, _, _ in self._pooled.values():
                self._end_stream(job, exc)
            self._pooled.clear()
            self._close_pool_if_empty(force=True)
            return
        for turn in turns:
            job, _, started, samples = self._pooled[id(turn.handle)]
            for chunk in turn.chunks:
                samples[0] += len(chunk)
                job.sink.put(np.asarray(chunk, np.float32))
            if turn.done:
                del self._pooled[id(turn.handle)]
                self._end_stream(job, turn.error)
                if turn.error is None:
                    seconds = time.perf_counter() - started
                    self._on_batch(BatchReport(1, seconds, samples[0] / self.pipeline.sample_rate))
        self._close_pool_if_empty()

    def _close_pool_if_empty(self, force: bool = False) -> None:
        if self._pool is not None and (force or not self._pooled):
            self._pool.close()
            self._pool, self._pool_group = None, None

    def _advance_streams(self) -> None:
        """One chunk of every running stream, in turn; a stream whose request is gone is closed."""
        if self._pool is not None:
            self._advance_pool()
        for entry in list(self._streams):
            job, chunks, started, samples = entry
            if job.sink.cancelled:
                chunks.close()
                self._streams.remove(entry)
                self._end_stream(job, None, cancelled=True)
                continue
            try:
                chunk = np.asarray(next(chunks), np.float32)
            except StopIteration:
                self._streams.remove(entry)
                self._end_stream(job, None)
                seconds = time.perf_counter() - started
                self._on_batch(BatchReport(1, seconds, samples[0] / self.pipeline.sample_rate))
                continue
            except BaseException as exc:  # noqa: BLE001 - the request gets the error, the thread lives on
                self._streams.remove(entry)
                self._end_stream(job, exc)
                continue
            samples[0] += len(chunk)
            job.sink.put(chunk)

    def _end_stream(self, job: Job, exc: BaseException | None, cancelled: bool = False) -> None:
        with self._cond:
            self._streaming.discard(job.request)
            self._cond.notify()
        if cancelled:
            job.future.set_result(None)
        elif exc is None:
            job.sink.end()
            job.future.set_result(None)
        else:
            job.sink.fail(exc)
            job.future.set_exception(exc)

    def _gather(self, wait: bool = True) -> list[Job] | None:
        """Wait for a first piece, then up to window_s for more of its group; take up to max_batch in order.
        With streams running (wait False) nothing is waited for: what is eligible now, maybe nothing."""
        with self._cond:
            while (group := self._head_group()) is None:
                if self._stopping and not self._queue and not self._busy:
                    return None
                if not wait:
                    return []
                self._cond.wait()
            deadline = time.monotonic() + (self.window_s if wait else 0.0)
            while (len(self._eligible(group)) < self.max_batch and not self._stopping
                   and (left := deadline - time.monotonic()) > 0):
                self._cond.wait(left)
            batch = self._eligible(group)
            taken = {id(j) for j in batch}
            self._queue = deque(j for j in self._queue if id(j) not in taken)
            return batch

    def _head_group(self) -> tuple | None:
        """The group of the first queued piece that may run now (None: none may)."""
        for j in self._queue:
            if not self._waits(j):
                return j.group
        return None

    def _waits(self, job: Job) -> bool:
        """Whether a queued piece must wait: a streamed request's next piece while its last one streams, or any
        piece streamed inside itself while another streams on sessions that pool their caches."""
        return ((job.stream and job.request in self._streaming)
                or (job.sink is not None and bool(self._streams) and not self._interleave))

    def _eligible(self, group: tuple | None) -> list[Job]:
        """Up to max_batch queued pieces of `group` in order; of a streamed request only its next piece, once
        the one before it has finished streaming."""
        batch, streams = [], set(self._streaming)
        for j in self._queue:
            if j.group != group or self._waits(j) or (j.stream and j.request in streams):
                continue
            if j.sink is not None and not self._interleave and any(b.sink is not None for b in batch):
                continue  # pooled caches: one stream at a time
            batch.append(j)
            streams.add(j.request)
            if len(batch) == self.max_batch:
                break
        return batch

    def _run(self, jobs: list[Job]) -> None:
        start = time.perf_counter()
        try:
            voice = self._voice(jobs[0].voice)
            audio = self.pipeline.run_pieces([j.piece for j in jobs], voice, jobs[0].options,
                                             Speech([], self.pipeline.sample_rate), lambda m: None)
        except BaseException as exc:  # noqa: BLE001 - every waiting request gets the error, the thread lives on
            for j in jobs:
                j.future.set_exception(exc)
            return
        seconds = time.perf_counter() - start
        self._batch_seconds = 0.8 * self._batch_seconds + 0.2 * seconds
        for j, a in zip(jobs, audio):
            j.future.set_result(np.asarray(a, np.float32))
        self._on_batch(BatchReport(len(jobs), seconds, sum(len(a) for a in audio) / self.pipeline.sample_rate))

    def _voice(self, name: str | None):
        if name is None:
            return None
        if name not in self._voices:
            self._voices[name] = self.pipeline.load_voice(name)
        return self._voices[name]
