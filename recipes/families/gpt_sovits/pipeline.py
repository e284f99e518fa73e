"""The GPT-SoVITS pipeline over stage sessions, reproducing upstream's `infer_panel_naive` and `decode`.

    piece phonemes ──(voice's prompt phonemes + piece's, zero BERT features)──embed_text──┐
    voice's prompt ids ──embed_audio (positions 0..P-1)───────────────────────────────────┴─> t2s prefill
    then per step: logits ──sample (upstream's rules)──> id ──embed_audio (position P + step)──> t2s step
    kept ids, piece phonemes, voice's spectrogram, noise ──vits──> audio (32 kHz)

Sampling is `AR/models/utils.py`'s `sample`, per row: the repetition penalty over every distinct earlier
id (the prompt's included; negative logits multiplied, positive divided), top-p, division by
max(temperature, 1e-5), top-k (ties at the k-th value kept), softmax, argmax(probs / Exponential(1)
noise) with the noise from the row's own stream. EOS is masked for the first 11 steps. A row stops when
the argmax of its penalized logits or its draw is EOS (that choice is then EOS, and dropped), or at the
step cap, where upstream keeps only the last cap-1 ids (its `y[:, -idx:]` at idx = cap-1; with no prompt
ids it keeps them all). Rows stop on their own, so texts of different lengths share a batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterator

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import OptionError, TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.forcing import observe
from ttsx.runtimes.pipeline import Piece, Pipeline, Progress, Speech, StreamOptions, SynthesisOptions, row_random
from ttsx.runtimes.logit_filters import SeenPenalty, Temperature, TopK, UpstreamTopP, apply, softmax
from ttsx.runtimes.sampling import check_sampling

from .phonemes import Phonemizer, split_phonemes
from .streaming import MIN_CHUNK, SIMILARITY_FILE, Joiner, Splitter, sine_fade
from .voices import Voice, load_voice

DEFAULT_BATCH = 4
WINDOW = 300  # phonemes per text piece before a long text is split (with the voice's, within max_prompt)
MIN_TEMPERATURE = 1e-5  # upstream divides by max(temperature, 1e-5)


@dataclass(frozen=True)
class GptSovitsOptions:
    """Everything that decides GPT-SoVITS's output; defaults are the web UI's (top_k 15, top_p 1, temperature 1)."""

    top_k: int | None = 15
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35
    max_tokens: int = 1500  # the step cap
    allow_eos: bool = True  # False: EOS masked, every row runs to max_tokens (benchmarks)
    seed: int | None = None
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self):
        check_sampling(self.temperature, self.top_k, self.top_p)
        if not self.repetition_penalty > 0:
            raise TtsxError(f"repetition_penalty must be > 0 (got {self.repetition_penalty})")

    @classmethod
    def from_synthesis(cls, o: SynthesisOptions, default_tokens: int) -> "GptSovitsOptions":
        """greedy is upstream's top_k=1 (the parity setting); the others map as named."""
        base = cls()
        return cls(top_k=1 if o.greedy else (o.top_k or base.top_k), top_p=o.top_p or base.top_p,
                   temperature=o.temperature or base.temperature, max_tokens=o.max_tokens or default_tokens,
                   allow_eos=o.stop_at_eos, seed=o.seed, batch_size=o.batch_size or DEFAULT_BATCH)


def choose(logits: np.ndarray, seen: np.ndarray, options: GptSovitsOptions, noise: np.ndarray,
           eos: int | None, counted: np.ndarray | None = None) -> np.ndarray:
    """One id per row by `sample`'s rules; EOS where the penalized logits' argmax is EOS (eos: its column, or
    None while it is masked). logits [B, V]; seen [B, >= V] bool: the ids earlier in the row (the prompt's
    included; each penalized once, as upstream's gather/scatter does); noise [B, V] Exponential(1) draws;
    counted: rows still generating (teacher-forced parity compares only theirs)."""
    x = SeenPenalty(options.repetition_penalty, seen)(logits.astype(np.float32))
    stop = np.argmax(x, -1) == eos if eos is not None else np.zeros(len(x), bool)  # on the penalized logits
    chain = [UpstreamTopP(options.top_p)] if options.top_p is not None and options.top_p < 1.0 else []
    chain.append(Temperature(options.temperature, MIN_TEMPERATURE))
    chain += [TopK(options.top_k)] if options.top_k is not None else []
    ids = np.argmax(softmax(apply(x, chain)) / noise, -1).astype(np.int64)
    if eos is not None:
        ids = np.where(stop, eos, ids)
    return observe(ids, counted)


def after_choice(choice: int, generated: list[int], seen: np.ndarray, idx: int, cap: int, eos: int,
                 prompted: bool) -> np.ndarray | None:
    """One row after step idx's choice: the id kept (and marked seen) unless it is EOS; the row's kept ids once it
    stops (at EOS, or at the cap, where upstream's y[:, -idx:] drops the first id unless there was no prompt)."""
    if choice == eos:
        return np.asarray(generated, np.int64)
    generated.append(choice)
    seen[choice] = True
    if idx == cap - 1:
        return np.asarray(generated[1:] if prompted else generated, np.int64)
    return None


def exponential(rng, shape) -> np.ndarray:
    """Exponential(1) draws from uniform ones (torch's exponential_ in upstream's sampler)."""
    return np.maximum(-np.log1p(-rng.random(shape)), np.float64(1e-30)).astype(np.float32)


def normal(rng, shape) -> np.ndarray:
    """Standard normal draws from uniform ones (Box-Muller): decode's randn_like."""
    u1, u2 = rng.random(shape), rng.random(shape)
    return (np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)).astype(np.float32)


class GptSovitsPipeline(Pipeline):
    """`speech = pipeline("HH AH0 L OW1 .", voice="seed-0")`; stages: t2s, vits."""

    options_type = GptSovitsOptions

    def __init__(self, artifact: Artifact, sessions: dict):
        super().__init__(artifact, sessions)
        self.phonemizer = Phonemizer(artifact.directory(artifact.manifest["tokenizer"]))

    def first_stage_tokens(self, options: GptSovitsOptions) -> int:
        return options.max_tokens

    def load_voice(self, voice: str | Path) -> Voice:
        """A voice preset of the artifact (seed-N) or a user's .npz (voices.py says what it holds)."""
        return load_voice(self.recipe, self.voice_file(voice))

    def make_voice(self, clip: str | Path, transcript: str, out: str | Path) -> Path:
        """A voice .npz from a 3-10 s reference clip and its transcript, as upstream's get_tts_wav reads them."""
        from .clip import make_voice

        return make_voice(self, Path(clip), transcript, Path(out))

    def __call__(self, texts, voice=None, options=None, progress: Progress = lambda m: None) -> Speech:
        """As Pipeline's, with the artifact's first voice when none is named (GPT-SoVITS always reads one)."""
        return super().__call__(texts, self._named_voice(voice), options, progress)

    def stream(self, text, voice=None, options=None, streaming=None, progress: Progress = lambda m: None):
        """As Pipeline's (whole pieces), with the artifact's first voice when none is named."""
        return super().stream(text, self._named_voice(voice), options, streaming, progress)

    def _named_voice(self, voice):
        if voice is not None:
            return voice
        if not self.voices:
            raise TtsxError("this artifact has no voice presets (a checkpoint's voices are its users' reference "
                            "clips): pass a voice .npz holding prompt_ids, prompt_phonemes and refer")
        return self.voices[0]

    def split(self, text: str, options=None, progress: Progress = lambda m: None, index: int = 0) -> list[str]:
        """Phoneme pieces (symbols joined by spaces) of at most WINDOW phonemes, cut after sentence ends."""
        symbols, by_front_end = self.phonemizer.phonemize(text.strip()) if text.strip() else ([], False)
        if not symbols:
            raise TtsxError(f"text {index} ({text[:40]!r}) is empty or has no phonemes; give some words")
        if by_front_end:
            shown = " ".join(symbols[:24]) + (" ..." if len(symbols) > 24 else "")
            progress(f"text {index}: {len(symbols)} phonemes by upstream's front end "
                     f"({self.phonemizer.front_end_home}): {shown}")
        return [" ".join(piece) for piece in split_phonemes(symbols, WINDOW)]

    def run_pieces(self, pieces: list[Piece], voice: Voice, options: GptSovitsOptions, speech: Speech,
                   progress) -> list:
        """t2s for the batch, then one VITS decode per piece."""
        phonemes = [np.asarray(self.phonemizer.encode(p.text), np.int64) for p in pieces]
        progress(f"t2s: {len(pieces)} text piece(s)")
        with speech.timed("t2s"):
            ids = self._semantic(phonemes, voice, options, row_random(pieces, 0))
        speech.record("t2s", ids)
        progress("vits")
        with speech.timed("vits"):
            noise = row_random(pieces, 1)
            return [self._decode(codes, text, voice, noise.rows([b])) for b, (codes, text) in enumerate(zip(ids, phonemes))]

    streams_inside_pieces = True

    def check_streaming(self, streaming: StreamOptions) -> None:
        extra = [n for n in streaming.given() if n != "chunk"]
        if extra:
            raise OptionError(f"GPT-SoVITS streams as upstream's TTS.run(streaming_mode=True): its one setting is the "
                              f"chunk (min_chunk_length, in semantic ids; default {MIN_CHUNK}); not {', '.join(extra)}")

    def stream_piece(self, piece: Piece, voice: Voice, options: GptSovitsOptions, streaming: StreamOptions,
                     speech: Speech, progress) -> Iterator[np.ndarray]:
        """TTS.run's streaming (streaming.py): t2s split at mute-like ids every `chunk` or more ids, each chunk's
        audio decoded over every id so far and joined to the last as upstream joins them."""
        phonemes = np.asarray(self.phonemizer.encode(piece.text), np.int64)
        splitter, joiner = self.streamer(piece, phonemes, voice, streaming)
        loop, kept = self._steps([phonemes], voice, options, row_random([piece], 0)), [None]
        while kept[0] is None:
            with speech.timed("t2s"):
                generated, kept = next(loop)
            for ids, final in splitter.push(generated[0], kept[0] is not None):
                with speech.timed("vits"):
                    audio = joiner.push(ids, final)
                if audio is not None:
                    yield audio
        loop.close()
        speech.record("t2s", [kept[0]])

    def stream_pool(self, voice, options, rows: int):
        """Streamed pieces whose t2s rows decode together (pool.py): rows join at a step and leave when done;
        None where the t2s session can't copy cache rows (TensorRT's pooled device caches, onnxruntime on CUDA)."""
        from .pool import GptSovitsStreamPool

        if not self.sessions["t2s"].copies_cache_rows:
            return None
        voice = self._named_voice(voice)
        return GptSovitsStreamPool(self, self.load_voice(voice) if isinstance(voice, (str, Path)) else voice,
                                   self.options(options), rows)

    @cached_property
    def mute_similarity(self) -> np.ndarray:
        """Each semantic id's likeness to silence, written at export (streaming.write_mute_similarity)."""
        return np.load(self.artifact.file(f"{self.artifact.manifest['tokenizer']}/{SIMILARITY_FILE}"),
                       allow_pickle=False)

    def streamer(self, piece: Piece, phonemes: np.ndarray, voice: Voice,
                 streaming: StreamOptions) -> tuple[Splitter, Joiner]:
        """One piece's split of its t2s ids and join of their audio (streaming.py); VITS noise from its own stream."""
        noise = row_random([piece], 1)

        def decode(codes, frames, overlap):
            return self._decode_chunk(codes, frames, overlap, phonemes, voice, noise)

        return Splitter(self.mute_similarity, streaming.chunk or MIN_CHUNK), Joiner(decode, 2 * self.recipe.vits.hop)

    def _decode_chunk(self, codes: np.ndarray, frames: int, overlap: np.ndarray | None, phonemes: np.ndarray,
                      voice: Voice, rng) -> tuple[np.ndarray, np.ndarray]:
        """decode_streaming of one chunk (vits_stream): every id so far, the last `frames` frames kept, the
        previous chunk's latent tail faded in (None: a first chunk); its noise from the row's stream."""
        v = self.recipe.vits
        if overlap is None:
            overlap, fade = np.zeros((1, v.hidden_channels, 1), np.float32), np.asarray([[1.0], [0.0]], np.float32)
        else:
            fade = sine_fade(overlap.shape[2])
        feed = {"codes": codes[None, None], "phoneme_ids": phonemes[None], "refer": voice.refer[None],
                "noise": normal(rng, (1, v.inter_channels, frames)), "overlap": overlap, "fade": fade}
        if voice.sv_emb is not None:
            feed["sv_emb"] = voice.sv_emb[None]
        out = self.sessions["vits_stream"].run(feed)
        return out["audio"].reshape(-1).astype(np.float32), out["latent"]

    def _semantic(self, phonemes: list[np.ndarray], voice: Voice, options: GptSovitsOptions, rng) -> list[np.ndarray]:
        """infer_panel_naive for a batch: the kept semantic ids of each row."""
        for _, kept in self._steps(phonemes, voice, options, rng):
            pass
        return kept

    def _steps(self, phonemes: list[np.ndarray], voice: Voice, options: GptSovitsOptions, rng):
        """infer_panel_naive for a batch, one yield per step: (each row's ids so far, EOS excluded; each row's
        kept ids once it stopped, else None)."""
        t2s, logits, text_lengths = self._prefill(phonemes, voice, options.max_tokens)
        try:
            yield from self._loop(t2s, logits, text_lengths, voice.prompt_ids, options, rng)
        finally:
            t2s.close()

    def _prefill(self, phonemes: list[np.ndarray], voice: Voice, room: int) -> tuple[CausalRunner, np.ndarray, np.ndarray]:
        """The t2s prefill of a batch on a runner of its own with `room` steps left: (runner, logits, text_lengths)."""
        prompt = voice.prompt_ids
        texts = [np.concatenate([voice.prompt_phonemes, p]) for p in phonemes]
        text_lengths = np.asarray([len(t) for t in texts], np.int32)
        lengths = text_lengths + len(prompt)
        if int(lengths.max()) > self.recipe.max_prompt:
            raise TtsxError(f"a text piece with the voice's reference takes {int(lengths.max())} t2s positions; at most "
                            f"{self.recipe.max_prompt}: use a shorter text piece or a voice with a shorter reference")
        batch, width = len(texts), int(lengths.max())
        ids = np.zeros((batch, int(text_lengths.max())), np.int64)
        for b, t in enumerate(texts):
            ids[b, : len(t)] = t
        text_embeds = self.sessions["embed_text"].run(
            {"phoneme_ids": ids, "bert_features": np.zeros((batch, self.recipe.t2s.bert_dim, ids.shape[1]), np.float32)}
        )["embeds"]
        embeds = np.zeros((batch, width, text_embeds.shape[-1]), np.float32)
        if len(prompt):
            audio = self._embed_audio(prompt[None], np.arange(len(prompt))[None])[0]
        for b, n in enumerate(text_lengths):
            embeds[b, :n] = text_embeds[b, :n]
            if len(prompt):
                embeds[b, n: n + len(prompt)] = audio
        t2s = CausalRunner(self.sessions["t2s"])  # one per generation: streams take turns on the session
        logits = t2s.start({"inputs_embeds": embeds, "text_lengths": text_lengths}, lengths, room)["logits"]
        return t2s, logits, text_lengths

    def _loop(self, t2s: CausalRunner, logits, text_lengths, prompt: np.ndarray, options: GptSovitsOptions, rng):
        eos, batch, cap = self.recipe.t2s.eos, len(logits), options.max_tokens
        seen = np.zeros((batch, self.recipe.t2s.semantic), bool)  # ids earlier in each row, for the penalty
        seen[:, prompt] = True
        generated: list[list[int]] = [[] for _ in range(batch)]
        kept: list[np.ndarray | None] = [None] * batch
        for idx in range(cap):
            masked = idx < self.recipe.sampling.min_steps or not options.allow_eos
            x = logits[:, :eos] if masked else logits
            choice = choose(x, seen, options, exponential(rng, x.shape), None if masked else eos,
                            np.asarray([k is None for k in kept]))
            for b in range(batch):
                if kept[b] is None:
                    kept[b] = after_choice(int(choice[b]), generated[b], seen[b], idx, cap, eos, len(prompt) > 0)
            yield generated, kept
            if all(k is not None for k in kept):
                return
            step = np.where(choice == eos, 0, choice)[:, None]
            positions = np.full((batch, 1), len(prompt) + idx, np.int64)
            logits = t2s.step({"inputs_embeds": self._embed_audio(step, positions),
                               "text_lengths": text_lengths})["logits"]

    def _embed_audio(self, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        return self.sessions["embed_audio"].run({"semantic_ids": ids, "positions": positions})["embeds"]

    def _decode(self, codes: np.ndarray, phonemes: np.ndarray, voice: Voice, rng) -> np.ndarray:
        """SynthesizerTrn.decode of one row, its noise from the row's stream."""
        if not len(codes):
            return np.zeros(0, np.float32)
        noise = normal(rng, (1, self.recipe.vits.inter_channels, 2 * len(codes)))
        feed = {"codes": codes[None, None], "phoneme_ids": phonemes[None], "refer": voice.refer[None], "noise": noise}
        if voice.sv_emb is not None:  # v2Pro/ProPlus
            feed["sv_emb"] = voice.sv_emb[None]
        audio = self.sessions["vits"].run(feed)["audio"]
        return audio.reshape(-1).astype(np.float32)


PIPELINE = GptSovitsPipeline  # what Family.open_pipeline opens
