"""The Parler-TTS pipeline over stage sessions, reproducing ParlerTTSForConditionalGeneration.generate.

    description ──T5 ids──encoder──> cross-attention keys and values, bound to the decoder for the generation
    piece ──T5 ids──embed_prompt──┐
    start column (9 x BOS)──embed_codes──┴─> decoder prefill (each row: its prompt, then the start column)
    then per step: logits [9, V] ──EOS rule, warpers, choice──> raw column ──delay pattern──embed_codes──> step
    raw columns ──undelay, drop frames holding BOS/EOS/PAD──dac──> audio (44.1 kHz)

The description comes from the call's `instructions`, else the named voice preset, else the artifact's
first preset. Rows stop on their own (all 9 codebooks ended), so texts of different lengths share a batch;
each row's prompt starts at position 0 whatever shares its batch, so a text makes the same codes alone
or batched (generate pads a batch's prompts, which moves the later rows' positions).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import OptionError, TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.pipeline import Piece, Pipeline, Progress, Speech, StreamOptions, SynthesisOptions, row_random
from ttsx.runtimes.sampling import check_sampling
from ttsx.runtimes.text import normalize, split_for_window

from .delay import EosRule, choose, fed_column, suppress_from, undelay
from .voices import T5Text, check_description, read_description

DEFAULT_BATCH = 4
PLAY_STEPS = 10  # ParlerTTSStreamer's default: a chunk every 10 decoder columns
DESCRIPTION_BUCKET = 16  # descriptions are right-padded (masked) to a power of two from 16: the decoder's
#                          cross-attention then takes a few lengths (a compiled decoder compiles once per bucket)


@dataclass(frozen=True)
class ParlerOptions:
    """Everything that decides Parler-TTS's output; defaults are its checkpoints' (do_sample, top_k 50)."""

    greedy: bool = False  # generate(do_sample=False): the parity setting
    temperature: float = 1.0
    top_k: int | None = 50
    top_p: float = 1.0
    max_tokens: int = 2579  # decoder steps (max_new_tokens)
    allow_eos: bool = True  # False: EOS and the ids past the codebook (1024..1087) masked on every codebook:
    #                         every row runs to max_tokens and every frame is audio (benchmarks)
    description: str | None = None  # None: the voice preset's
    seed: int | None = None
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self):
        check_sampling(self.temperature, self.top_k, self.top_p)
        if self.description is not None:
            check_description(self.description)

    @classmethod
    def from_synthesis(cls, o: SynthesisOptions, default_tokens: int) -> "ParlerOptions":
        """instructions become the description; the rest map as named."""
        base = cls()
        return cls(greedy=o.greedy, temperature=o.temperature or base.temperature, top_k=o.top_k or base.top_k,
                   top_p=o.top_p or base.top_p, max_tokens=o.max_tokens or default_tokens, allow_eos=o.stop_at_eos,
                   description=o.instructions, seed=o.seed, batch_size=o.batch_size or DEFAULT_BATCH)


class ParlerPipeline(Pipeline):
    """`speech = pipeline("Hello.", options=SynthesisOptions(instructions="A calm female voice."))`;
    stage: decoder (the encoder and the embeddings time with it), dac."""

    options_type = ParlerOptions
    reads_instructions = True

    def __init__(self, artifact: Artifact, sessions: dict):
        super().__init__(artifact, sessions)
        tokenizer = artifact.manifest.get("tokenizer")
        self.text = T5Text(artifact.directory(tokenizer) if tokenizer else None, self.recipe.t5.vocab)

    def first_stage_tokens(self, options: ParlerOptions) -> int:
        minimum = self.recipe.sampling.min_steps
        if options.max_tokens < minimum:
            raise OptionError(f"max tokens {options.max_tokens} is below {minimum}: Parler-TTS's delay pattern over "
                              f"{self.recipe.decoder.codebooks} codebooks needs at least {minimum} decoder steps")
        return options.max_tokens

    def load_voice(self, voice: str | Path) -> str:
        """A description: a preset of the artifact, or a user's UTF-8 .txt file."""
        return read_description(self.voice_file(voice, ".txt"))

    def split(self, text: str, options=None, progress: Progress = lambda m: None, index: int = 0) -> list[str]:
        """Pieces of at most max_prompt T5 ids (EOS included), cut at sentence ends."""
        text = normalize(text)
        if not text:
            raise TtsxError(f"text {index} is empty; give some words")
        return split_for_window(text, self.text, self.recipe.max_prompt - 1)

    def description(self, voice: str | None, options: ParlerOptions) -> str:
        """The call's instructions, else the voice's description, else the first preset's."""
        if options.description is not None:
            return check_description(options.description)
        if voice is not None:
            return voice
        if not self.voices:
            raise TtsxError("this artifact has no voice presets; pass instructions (a description of the voice)")
        return self.load_voice(self.voices[0])

    def run_pieces(self, pieces: list[Piece], voice, options: ParlerOptions, speech: Speech, progress) -> list:
        """The decoder for the batch, then one DAC decode per piece."""
        description = self.description(voice, options)
        progress(f"decoder: {len(pieces)} text piece(s)")
        with speech.timed("decoder"):
            codes, steps = self._codes([p.text for p in pieces], description, options, row_random(pieces, 0))
        speech.record("decoder", codes, steps)
        progress("dac")
        with speech.timed("dac"):
            return [self._decode(c) for c in codes]

    streams_inside_pieces = True

    def check_streaming(self, streaming: StreamOptions) -> None:
        extra = [n for n in streaming.given() if n not in ("chunk", "overlap")]
        if extra:
            raise OptionError(f"Parler-TTS's streamer takes a chunk (play_steps) and an overlap (stride); not "
                              f"{', '.join(extra)}")

    def stream_overlap(self, streaming: StreamOptions) -> int:
        """ParlerTTSStreamer's stride unless given: hop x (play_steps - codebooks) // 6 samples."""
        if streaming.overlap is not None:
            return streaming.overlap
        return self.recipe.dac.hop * ((streaming.chunk or PLAY_STEPS) - self.recipe.decoder.codebooks) // 6

    def stream_piece(self, piece: Piece, voice, options: ParlerOptions, streaming: StreamOptions, speech: Speech,
                     progress) -> Iterator[np.ndarray]:
        """ParlerTTSStreamer's scheme: every `chunk` columns (its play_steps, the start column counted) the whole
        history is undelayed as the streamer does and decoded; what was not sent, less the last `overlap`
        samples (its stride), is sent; at the end, everything not sent. Each decode covers every frame so far."""
        play, stride = streaming.chunk or PLAY_STEPS, self.stream_overlap(streaming)
        loop = self._columns([piece.text], self.description(voice, options), options, row_random([piece], 0))
        sent, columns = 0, None
        while True:
            with speech.timed("decoder"):
                try:
                    columns = next(loop)
                except StopIteration as done:
                    codes, steps = done.value
                    break
            if len(columns) % play == 0:
                with speech.timed("dac"):
                    audio = self._streamed(columns)
                yield audio[sent:-stride]  # the streamer's slices, its quirks (a stride of 0 sends nothing) kept
                sent = len(audio) - stride
        speech.record("decoder", codes, steps)
        with speech.timed("dac"):
            audio = self._streamed(columns) if columns else np.zeros(sent, np.float32)
        yield audio[sent:]

    def _streamed(self, columns: list[np.ndarray]) -> np.ndarray:
        """ParlerTTSStreamer.apply_delay_pattern_mask on one row's raw columns so far, decoded: below 2K - 1
        columns the raw columns as they are (its pattern is empty), else undelayed with max_length = the columns;
        frames holding an id >= the codebook size dropped."""
        d = self.recipe.decoder
        raw = np.stack([c[0] for c in columns], 1)  # [9, T]
        if raw.shape[1] < 2 * d.codebooks - 1:
            codes = raw[:, (raw < self.recipe.dac.codebook_size).all(0)]
        else:
            codes = undelay(raw, raw.shape[1], d.bos, d.pad, self.recipe.dac.codebook_size)
        return self._decode(codes)

    def _encode(self, description: str, batch: int) -> tuple[np.ndarray, dict]:
        """The description's mask and cross-attention keys and values for `batch` rows: the encoder runs once
        (every row of a batch shares the description) and its outputs are repeated per row."""
        ids = np.asarray(self.text.encode(description), np.int64)
        if len(ids) > self.recipe.max_description:
            raise TtsxError(f"the description has {len(ids)} T5 tokens; at most {self.recipe.max_description}: "
                            "shorten it")
        width = min(max(DESCRIPTION_BUCKET, 1 << (len(ids) - 1).bit_length()), self.recipe.max_description)
        mask = np.zeros((1, width), np.int64)
        mask[:, : len(ids)] = 1
        outputs = self.sessions["encoder"].run({"input_ids": np.pad(ids, (0, width - len(ids)))[None],
                                                "attention_mask": mask})
        cross = {name.replace("present", "past_key_values", 1): np.repeat(value, batch, 0)
                 for name, value in outputs.items()}
        return np.repeat(mask, batch, 0), cross

    def _codes(self, texts: list[str], description: str, options: ParlerOptions, rng) -> tuple[list[np.ndarray], int]:
        """generate for a batch: each row's undelayed frames [9, T] (frames holding special ids dropped), and the
        decoder steps run."""
        loop = self._columns(texts, description, options, rng)
        while True:
            try:
                next(loop)
            except StopIteration as done:
                return done.value

    def _columns(self, texts: list[str], description: str, options: ParlerOptions, rng):
        """generate's loop, a generator: after each new column it yields the raw columns so far ([B, 9] each,
        the start column first, one list that grows); it returns what _codes returns."""
        d = self.recipe.decoder
        prompts = [np.asarray(self.text.encode(t), np.int64) for t in texts]
        batch, longest = len(prompts), max(len(p) for p in prompts)
        if longest > self.recipe.max_prompt:
            raise TtsxError(f"a text piece has {longest} T5 tokens; at most {self.recipe.max_prompt}")
        mask, cross = self._encode(description, batch)
        ids = np.zeros((batch, longest), np.int64)
        for b, p in enumerate(prompts):
            ids[b, : len(p)] = p
        prompt_embeds = self.sessions["embed_prompt"].run({"prompt_ids": ids})["embeds"]
        start = self._embed(np.full((1, d.codebooks), d.bos, np.int64))[0, 0]
        lengths = np.asarray([len(p) + 1 for p in prompts], np.int32)
        embeds = np.zeros((batch, longest + 1, prompt_embeds.shape[-1]), np.float32)
        for b, p in enumerate(prompts):
            embeds[b, : len(p)] = prompt_embeds[b, : len(p)]
            embeds[b, len(p)] = start
        max_length = options.max_tokens + 1  # generate's max_length: the start column and max_new_tokens
        rule = EosRule(batch, d.codebooks, d.eos)
        decoder = CausalRunner(self.sessions["decoder"])  # one per generation: streams take turns on the session
        columns = [np.full((batch, d.codebooks), d.bos, np.int64)]
        ends = np.full(batch, max_length)  # each item's columns
        try:
            logits = decoder.start({"inputs_embeds": embeds}, lengths, options.max_tokens,
                                        bound={"encoder_attention_mask": mask, **cross})["logits"]
            for column in range(1, max_length):
                x = rule.mask(logits) if options.allow_eos else suppress_from(logits, d.eos)
                running = ends == max_length
                raw = rule.finish(choose(x, options.greedy, options.temperature, options.top_k, options.top_p, rng,
                                         running))
                columns.append(raw)
                yield columns
                ends = np.where(running & rule.done, column + 1, ends)
                if not (ends == max_length).any() or column == max_length - 1:
                    break
                step = fed_column(raw, column, max_length, d.bos, d.pad)
                logits = decoder.step({"inputs_embeds": self._embed(step[:, :, None])})["logits"]
        finally:
            decoder.close()
        raw = np.stack(columns, 2)  # [B, 9, columns]
        return [undelay(raw[b, :, : ends[b]], max_length, d.bos, d.pad, self.recipe.dac.codebook_size)
                for b in range(batch)], raw.shape[2] - 1

    def _embed(self, codes: np.ndarray) -> np.ndarray:
        return self.sessions["embed_codes"].run({"codes": codes if codes.ndim == 3 else codes[:, :, None]})["embeds"]

    def _decode(self, codes: np.ndarray) -> np.ndarray:
        """DacModel.decode of one row's frames; generate's single zero sample when none is left."""
        if codes.shape[1] == 0:
            return np.zeros(1, np.float32)
        return self.sessions["dac"].run({"codes": codes[None]})["audio"].reshape(-1).astype(np.float32)


PIPELINE = ParlerPipeline  # what Family.open_pipeline opens
