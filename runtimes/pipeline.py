"""What every family's pipeline looks like from outside: options in, Speech out, stage sessions inside.

    texts ──Pipeline(artifact, sessions)──> Speech(audio per text, tokens per stage, seconds per stage)

`SynthesisOptions` are the knobs every autoregressive TTS family shares (the CLI, `ttsx.load`,
`ttsx bench` and the server speak only these); each family maps them onto its own stages, with
its recipe's defaults for whatever is left unset. A family may also accept its own richer options.
"""
from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ttsx.base.errors import OptionError, TtsxError
from ttsx.base.progress import Progress, counter
from ttsx.runtimes import forcing
from ttsx.runtimes.sampling import RowRandom, check_sampling



@dataclass(frozen=True)
class SynthesisOptions:
    """Family-neutral generation settings; None means the family's default."""

    seed: int | None = None  # seeds every sampling step; None draws fresh entropy
    greedy: bool = False  # argmax everywhere (the reference's deterministic setting)
    temperature: float | None = None  # first-stage temperature (families may scale later stages from it)
    top_k: int | None = None  # keep the k most likely tokens
    top_p: float | None = None  # keep the smallest set whose probability reaches top_p
    max_tokens: int | None = None  # first-stage tokens per text piece, at most
    stop_at_eos: bool = True  # False: EOS is suppressed and every sequence runs to max_tokens (benchmarks)
    batch_size: int | None = None  # text pieces run together; None: the family default
    instructions: str | None = None  # how to speak, in words (OpenAI's field): families whose voice is a
    #                                  description read it (`Pipeline.reads_instructions`); others refuse it

    def __post_init__(self):
        check_sampling(self.temperature, self.top_k, self.top_p)
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise TtsxError(f"seed must be in [0, 2**63) (got {self.seed})")
        for name in ("max_tokens", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise TtsxError(f"{name} must be >= 1 (got {value})")


@dataclass(frozen=True)
class StreamOptions:
    """How `Pipeline.stream` cuts a piece's audio into chunks, in the terms of the family's reference streamer
    (None: the reference's default; a family refuses a setting its reference does not have; docs/cli.md gives
    each reference's own name for them)."""

    chunk: int | None = None  # decoder steps between chunks
    skip: int | None = None  # chunks decoded but not sent first
    max_samples: int | None = None  # samples a chunk sends at most, the rest later
    overlap: int | None = None  # samples held back at each chunk's end

    def __post_init__(self):
        for name, least in (("chunk", 1), ("skip", 0), ("max_samples", 1), ("overlap", 0)):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < least):
                raise OptionError(f"stream {name} must be an integer >= {least} (got {value!r})")

    def given(self) -> list[str]:
        """The settings not left to the reference's default."""
        return [name for name, value in self.__dict__.items() if value is not None]


@dataclass
class Speech:
    """Audio per input text plus what made it: tokens per stage (per text piece) and wall seconds per stage."""

    audio: list[np.ndarray]
    sample_rate: int
    tokens: dict[str, list[np.ndarray]] = field(default_factory=dict)  # stage -> one array per text piece
    seconds: dict[str, float] = field(default_factory=dict)  # stage -> wall seconds
    steps: dict[str, int] = field(default_factory=dict)  # stage -> generated tokens per sequence (longest)

    def __getattr__(self, name: str):
        """speech.<stage>: the tokens of a stage (stage names are the family's)."""
        tokens = self.__dict__.get("tokens", {})
        if name in tokens:
            return tokens[name]
        raise AttributeError(name)

    @contextmanager
    def timed(self, stage: str):
        """Add the wall time of the block to `stage` (whose token choices runtimes.forcing sees under that name)."""
        start = time.perf_counter()
        try:
            with forcing.stage(stage):
                yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start

    def record(self, stage: str, sequences: list[np.ndarray], steps: int | None = None) -> None:
        """Record a stage's tokens for a batch of pieces and its steps (default: the longest sequence's length)."""
        self.tokens.setdefault(stage, []).extend(sequences)
        steps = max((len(s) for s in sequences), default=0) if steps is None else int(steps)
        self.steps[stage] = max(self.steps.get(stage, 0), steps)


@dataclass(frozen=True)
class Piece:
    """One window-sized piece of a text, and what keys its random streams: the text's seed and the piece's index."""

    text: str
    seed: int
    index: int = 0

    def stream(self, stage: int) -> tuple[int, int, int]:
        """The key of this piece's random stream in one stage."""
        return self.seed, self.index, stage


@dataclass
class Turn:
    """What one step of a StreamPool did for one of its pieces: the chunks it finished (maybe none), whether the
    piece is done, or the error that ended it."""

    handle: object  # what StreamPool.add returned
    chunks: list[np.ndarray]
    done: bool
    error: BaseException | None = None


class StreamPool(ABC):
    """Pieces streamed inside themselves whose decoding shares one batch (continuous batching): a piece joins at
    a step boundary (prefilled alone, its cache row copied into a free row) and leaves when done, freeing its row
    at once; each keeps its own random streams, so a seeded piece streams as it does alone."""

    @property
    @abstractmethod
    def free(self) -> int:
        """Rows free now."""

    @abstractmethod
    def add(self, piece: "Piece", streaming: "StreamOptions") -> object:
        """Prefill the piece and give it a free row; a handle that advance()'s turns name."""

    @abstractmethod
    def advance(self) -> list[Turn]:
        """One step of every piece in the pool (one batched call), and the chunks each finished."""

    @abstractmethod
    def cancel(self, handle: object) -> None:
        """Drop a piece (its request is gone); its row is free."""

    @abstractmethod
    def close(self) -> None:
        """Release the pool's caches."""


def fresh_seed() -> int:
    """A seed from the OS's entropy, for a call that names none (its pieces still get their own streams)."""
    return secrets.randbits(63)


def row_random(pieces: list[Piece], stage: int) -> RowRandom:
    """One stream per piece for one stage: a piece's draws do not depend on what shares its batch."""
    return RowRandom([p.stream(stage) for p in pieces])


class Pipeline(ABC):
    """A family's generation loop over stage sessions: load once, call many times; a context manager.

    The call is generic: texts are checked, split into the family's window pieces, run in batches
    (`run_pieces`) and joined. A piece's sampling draws from streams keyed by (seed, piece index,
    stage), so a seeded text gets the same audio alone, in any batch, or piece by piece (the server
    streams that way). A family gives `options_type` and `first_stage_tokens` (for `options`), `load_voice`, `split` and
    `run_pieces`.
    """

    def __init__(self, artifact, sessions: dict):
        self.artifact, self.recipe, self.sessions = artifact, artifact.recipe, sessions

    def __enter__(self) -> "Pipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release every stage session."""
        for session in self.sessions.values():
            session.close()

    @property
    def sample_rate(self) -> int:
        """Hz of the audio this pipeline makes."""
        return self.recipe.limits.sample_rate

    @property
    def voices(self) -> list[str]:
        """The artifact's voice preset names."""
        return sorted(self.artifact.manifest.get("voices", {}))

    def __call__(self, texts: str | list[str], voice: str | Path | None = None, options=None,
                 progress: Progress = lambda m: None) -> Speech:
        """Synthesize one text or a list (`options`: SynthesisOptions or the family's own); long texts are
        split at sentence ends and their audio joined."""
        texts = check_texts(texts, self.recipe.limits.max_text_chars)
        options, voice_data, pieces, owners = self._prepare(texts, voice, options, progress)
        speech, audio = Speech([], self.sample_rate), []
        starts = range(0, len(pieces), options.batch_size)
        with counter(progress if len(starts) > 1 else None, "batches of text pieces", len(starts)) as advance:
            for start in starts:
                audio += self.run_pieces(pieces[start: start + options.batch_size], voice_data, options, speech,
                                         progress)
                advance()
        speech.audio = [np.concatenate([a for a, o in zip(audio, owners) if o == t]) for t in range(len(texts))]
        return speech

    def _prepare(self, texts: list[str], voice, options, progress) -> tuple:
        """(the family's options, the voice loaded, every text's seeded pieces in order, each piece's text index)."""
        options = self.options(options)
        voice_data = self.load_voice(voice) if voice is not None else None
        seed = fresh_seed() if options.seed is None else options.seed
        pieces, owners = [], []
        for i, text in enumerate(texts):
            for k, piece in enumerate(self.split(text, options, progress, index=i)):
                pieces.append(Piece(piece, seed, k))
                owners.append(i)
        return options, voice_data, pieces, owners

    def stream(self, text: str, voice: str | Path | None = None, options=None,
               streaming: StreamOptions | None = None, progress: Progress = lambda m: None) -> Iterator[np.ndarray]:
        """One text's audio as it is made, chunk by chunk (float32 arrays at `sample_rate`): each window piece
        as the family's reference streams it (`stream_piece`; a family without an in-piece streamer sends each
        piece whole), pieces in order. The tokens are the whole call's (a seeded or greedy stream makes the
        same ones); the options are checked before the first chunk is asked for."""
        if not isinstance(text, str):
            raise TtsxError("stream takes one text (a str); call the pipeline itself for a list")
        check_texts(text, self.recipe.limits.max_text_chars)
        streaming = streaming or StreamOptions()
        self.check_streaming(streaming)
        options, voice_data, pieces, _ = self._prepare([text], voice, options, progress)

        def chunks() -> Iterator[np.ndarray]:
            speech = Speech([], self.sample_rate)
            for piece in pieces:
                for chunk in self.stream_piece(piece, voice_data, options, streaming, speech, progress):
                    yield np.asarray(chunk, np.float32)

        return chunks()

    streams_inside_pieces = False  # whether stream_piece sends audio before its piece is done

    def stream_pool(self, voice, options, rows: int) -> StreamPool | None:
        """A StreamPool of `rows` rows for streamed pieces of one voice and options (the seed aside), or None where
        the family has none (its streams take turns chunk by chunk)."""
        return None

    @property
    def interleaves_streams(self) -> bool:
        """Whether several stream_piece generators may take turns (no session pools its caches)."""
        return not any(getattr(s, "pooled_caches", False) for s in self.sessions.values())  # on-demand ones: no cache

    def check_streaming(self, streaming: StreamOptions) -> None:
        """Refuse stream settings the family's streamer does not have (by default: every one)."""
        if streaming.given():
            raise OptionError(f"{self.recipe.family} streams whole pieces (its reference has no streamer inside one); "
                              f"drop the stream settings ({', '.join(streaming.given())})")

    def stream_piece(self, piece: Piece, voice, options, streaming: StreamOptions, speech: Speech,
                     progress: Progress) -> Iterator[np.ndarray]:
        """One piece's audio in chunks, as the family's reference streams it; by default the whole piece."""
        yield from self.run_pieces([piece], voice, options, speech, progress)

    reads_instructions = False  # whether SynthesisOptions.instructions (a description of the voice) is read
    options_type: type | None = None  # the family's own options: `from_synthesis(SynthesisOptions, default_tokens)`, `seed`, `batch_size`

    def options(self, options):
        """The family's options from None, SynthesisOptions or its own, checked against the recipe's limits."""
        limits = self.recipe.limits
        if isinstance(options, SynthesisOptions) and options.instructions and not self.reads_instructions:
            raise OptionError(f"{self.recipe.name} takes no instructions (its voices are presets: pass voice); omit "
                              "them")
        if self.options_type is None:
            raise NotImplementedError(f"{type(self).__name__} sets no options_type (its options class)")
        if options is None or isinstance(options, SynthesisOptions):
            options = self.options_type.from_synthesis(options or SynthesisOptions(), limits.default_tokens)
        elif not isinstance(options, self.options_type):
            raise TtsxError(f"{self.recipe.name} takes SynthesisOptions or {self.options_type.__name__}, "
                            f"not {type(options).__name__}")
        tokens = self.first_stage_tokens(options)
        if not 1 <= tokens <= limits.max_tokens:
            raise TtsxError(f"max tokens {tokens} is outside 1..{limits.max_tokens}, what {self.recipe.name} can "
                            "make per text piece")
        return options

    @abstractmethod
    def first_stage_tokens(self, options) -> int:
        """The most tokens the first autoregressive stage makes per piece under `options`."""

    @abstractmethod
    def load_voice(self, voice: str | Path):
        """A voice preset by name (or a file the family accepts), checked (`voice_file` finds it)."""

    def make_voice(self, clip: str | Path, transcript: str, out: str | Path) -> Path:
        """A voice file from a reference clip and what it says (`ttsx voice`), for families that clone voices."""
        raise TtsxError(f"{self.recipe.family} voices are not made from clips: use the artifact's presets "
                        "(`ttsx info`) or the family's own voice files")

    def voice_file(self, voice: str | Path, suffix: str = ".npz") -> Path:
        """The file of a preset of the artifact (by name) or a `suffix` file given by path; TtsxError otherwise."""
        voices = self.artifact.manifest.get("voices", {})
        if str(voice) in voices:
            return self.artifact.file(voices[str(voice)])
        if str(voice).endswith(suffix) and Path(voice).is_file():
            return Path(voice)
        known = ", ".join(sorted(voices)) or "none in this artifact"
        raise TtsxError(f"unknown voice {str(voice)!r}; known voices: {known}; or pass a path to a {suffix} file")

    @abstractmethod
    def split(self, text: str, options, progress: Progress = lambda m: None, index: int = 0) -> list[str]:
        """A text's window pieces, normalised as the family does; TtsxError (naming text `index`) if empty."""

    @abstractmethod
    def run_pieces(self, pieces: list[Piece], voice, options, speech: Speech, progress: Progress) -> list[np.ndarray]:
        """One batch of pieces -> one waveform per piece; tokens and stage times go into `speech`."""

    @property
    def random_weights(self) -> bool:
        """Whether the artifact came from random weights (its audio is noise)."""
        return bool(self.artifact.manifest["source"].get("random_weights"))


def check_texts(texts: str | list[str], max_chars: int) -> list[str]:
    """A list of non-empty str texts within the length limit, or a TtsxError naming the bad one."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise TtsxError("no text given; pass a string or a non-empty list of strings")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TtsxError(f"text {i} is a {type(text).__name__}, expected str")
        if len(text) > max_chars:
            raise TtsxError(f"text {i} has {len(text)} characters; at most {max_chars} per text (split it)")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise TtsxError(f"text {i} is not valid Unicode ({exc.reason} at position {exc.start}); "
                            "remove lone surrogates") from None
    return texts


def by_length(items: list[np.ndarray], run: Callable[..., list], indexed: bool = False) -> list:
    """Run `run` on stacks of equal-length items (batch results equal solo results); keep order.

    indexed: `run(stack, index)` also gets the items' positions (to pick their rows' random streams).
    """
    out: list = [None] * len(items)
    for length in sorted({x.shape[-1] for x in items}):
        index = [i for i, x in enumerate(items) if x.shape[-1] == length]
        stack = np.stack([items[i] for i in index])
        for i, result in zip(index, run(stack, index) if indexed else run(stack)):
            out[i] = result
    return out
