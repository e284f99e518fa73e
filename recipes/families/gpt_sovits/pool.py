"""GPT-SoVITS streamed pieces decoded together (continuous batching): `ttsx serve`'s concurrent streams.

    add(piece)  ── t2s prefill alone ──> its cache row copied into a free row of the pool's t2s caches
    advance()   ── per row: infer_panel_naive's choice from its logits, the streaming split, each finished
                   chunk's decode_streaming (streaming.py) ──> one t2s step of every row still going
    a row that stops frees its row at once; a piece that comes joins at the next step
    the batch is the smallest power of two that holds the rows going (at most `rows`): it grows when a piece
    finds no free row and shrinks when half of it is free, the rows going copied over (a step costs what
    its batch costs, so one request alone steps at batch 1)

Each row keeps its own random streams, step count, EOS mask and repetition history, so a seeded piece gets
the ids and chunks it gets streamed alone (pipeline.stream_piece), up to the float rounding of a wider batch.
"""
from __future__ import annotations

import numpy as np

from ttsx.base.errors import TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.pipeline import Piece, StreamOptions, StreamPool, Turn, row_random

from .pipeline import after_choice, choose, exponential


class _Row:
    """One piece's infer_panel_naive state and its streamer."""

    def __init__(self, pipeline, piece: Piece, phonemes: np.ndarray, voice, options, streaming: StreamOptions,
                 logits: np.ndarray):
        self.piece, self.options, self.logits = piece, options, logits
        self.rng = row_random([piece], 0)
        self.seen = np.zeros((1, pipeline.recipe.t2s.semantic), bool)
        self.seen[:, voice.prompt_ids] = True
        self.generated: list[int] = []
        self.kept: np.ndarray | None = None
        self.step, self.prompt = 0, len(voice.prompt_ids)
        self.splitter, self.joiner = pipeline.streamer(piece, phonemes, voice, streaming)

    def turn(self, eos: int, min_steps: int) -> list[np.ndarray]:
        """One choice (GptSovitsPipeline._loop's, for one row) and the chunks it completes."""
        options, idx = self.options, self.step
        masked = idx < min_steps or not options.allow_eos
        x = self.logits[None, :eos] if masked else self.logits[None]
        choice = int(choose(x, self.seen, options, exponential(self.rng, x.shape), None if masked else eos,
                            np.asarray([True]))[0])
        self.kept = after_choice(choice, self.generated, self.seen[0], idx, options.max_tokens, eos, self.prompt > 0)
        self.step += 1
        chunks = []
        for ids, final in self.splitter.push(self.generated, self.kept is not None):
            audio = self.joiner.push(ids, final)
            if audio is not None:
                chunks.append(audio)
        return chunks


class GptSovitsStreamPool(StreamPool):
    """`rows` t2s rows of one voice and options; see the module docstring."""

    def __init__(self, pipeline, voice, options, rows: int):
        self.pipeline, self.voice, self.options, self.limit = pipeline, voice, options, rows
        self.positions = pipeline.recipe.max_prompt + options.max_tokens
        self.t2s: CausalRunner | None = None
        self.rows: list[_Row | None] = []
        self.text_lengths = np.zeros(0, np.int32)

    @property
    def free(self) -> int:
        return self.limit - sum(r is not None for r in self.rows)

    def _resize(self, size: int) -> None:
        """A batch of `size` rows with the rows going copied in, in order."""
        t2s = CausalRunner(self.pipeline.sessions["t2s"])
        t2s.reserve(size, self.positions)
        rows, lengths = [None] * size, np.zeros(size, np.int32)
        for new, old in enumerate(r for r, row in enumerate(self.rows) if row is not None):
            t2s.admit(new, self.t2s, old)
            rows[new], lengths[new] = self.rows[old], self.text_lengths[old]
        if self.t2s is not None:
            self.t2s.close()
        self.t2s, self.rows, self.text_lengths = t2s, rows, lengths

    def add(self, piece: Piece, streaming: StreamOptions) -> _Row:
        if not self.free:
            raise TtsxError("the stream pool is full; wait for a row to free")
        self.pipeline.check_streaming(streaming)
        phonemes = np.asarray(self.pipeline.phonemizer.encode(piece.text), np.int64)
        solo, logits, text_lengths = self.pipeline._prefill([phonemes], self.voice, self.options.max_tokens)
        if None not in self.rows:
            self._resize(min(self.limit, max(1, 2 * len(self.rows))))
        r = self.rows.index(None)
        try:
            self.t2s.admit(r, solo)
        finally:
            solo.close()
        self.rows[r] = _Row(self.pipeline, piece, phonemes, self.voice, self.options, streaming, logits[0])
        self.text_lengths[r] = text_lengths[0]
        return self.rows[r]

    def advance(self) -> list[Turn]:
        eos, min_steps = self.pipeline.recipe.t2s.eos, self.pipeline.recipe.sampling.min_steps
        turns = []
        for r, row in enumerate(self.rows):
            if row is None:
                continue
            try:
                chunks = row.turn(eos, min_steps)
            except BaseException as exc:  # noqa: BLE001 - that piece fails, the others go on
                self.rows[r] = None
                turns.append(Turn(row, [], True, exc))
                continue
            turns.append(Turn(row, chunks, row.kept is not None))
            if row.kept is not None:
                self.rows[r] = None
        going = [r for r, row in enumerate(self.rows) if row is not None]
        if going:
            ids, positions = np.zeros((len(self.rows), 1), np.int64), np.zeros((len(self.rows), 1), np.int64)
            for r in going:
                row = self.rows[r]
                ids[r, 0], positions[r, 0] = row.generated[-1], row.prompt + row.step - 1
            idle = np.asarray([row is None for row in self.rows])
            embeds = self.pipeline._embed_audio(ids, positions)
            logits = self.t2s.step({"inputs_embeds": embeds, "text_lengths": self.text_lengths}, idle)["logits"]
            for r in going:
                self.rows[r].logits = logits[r]
        if len(self.rows) > 1 and 2 * len(going) <= len(self.rows):  # half free or more: a smaller batch
            self._resize(1 << max(0, len(going) - 1).bit_length())
        return turns

    def cancel(self, handle: _Row) -> None:
        self.rows = [None if row is handle else row for row in self.rows]

    def close(self) -> None:
        if self.t2s is not None:
            self.t2s.close()
        self.t2s, self.rows = None, []
