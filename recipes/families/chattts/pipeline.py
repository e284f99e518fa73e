"""The ChatTTS pipeline over stage sessions, reproducing `Chat.infer` (chattts 0.2.5).

    text --normalize--> [refine pass: "[Sbreak]{text}[Pbreak]" -> text ids -> decoded text]
         --code pass: "[Stts][spk_emb|empty_spk][speed_5]{text}[Ptts]" -> codes [4, T], hiddens [T, H]
         --decoder(hiddens) or dvae(codes)--> mel [100, 2T] --vocos--> audio [(2T - 1) * 256]

Both passes are one loop (`_generate`): embed the prompt (ChatTTS's left-padded batch as right-padded rows), prefill, then per step a head,
ChatTTS's logit rules (temperature, repetition penalty over the last 16 tokens, top-p and top-k
keeping at least 3, EOS barred before min_new_tokens), the choice, and the next token's embedding.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import OptionError, TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.forcing import observe
from ttsx.runtimes.pipeline import (Piece, Pipeline, Progress, Speech, StreamOptions, SynthesisOptions, by_length,
                                    row_random)
from ttsx.runtimes.logit_filters import RepetitionPenalty, Suppress, Temperature, TopK, TopP, apply, softmax
from ttsx.runtimes.sampling import SamplingOptions, sample
from ttsx.runtimes.text import split_for_window

from .recipe import HOP, ChatTTSConstants
from .tokenizer import ChatTTSTokenizer
from .voices import apply_speaker, load_speaker

C = ChatTTSConstants()
DEFAULT_BATCH = 4  # text pieces run together (ChatTTS's max_split_batch)
STREAM_BATCH, PASS_FIRST_N_BATCHES, STREAM_SPEED = 24, 2, 12000  # InferCodeParams' stream defaults


@dataclass(frozen=True)
class PassOptions:
    """One autoregressive pass (ChatTTS's RefineTextParams / InferCodeParams)."""

    sampling: SamplingOptions
    repetition_penalty: float
    max_new_tokens: int
    min_new_tokens: int = 0
    allow_eos: bool = True  # False: EOS barred, every row runs to max_new_tokens (benchmarks)


@dataclass(frozen=True)
class ChatTTSOptions:
    """Everything that decides ChatTTS's output; defaults are Chat.infer's."""

    refine: PassOptions | None = PassOptions(SamplingOptions(temperature=C.refine_temperature, top_k=C.top_k,
                                                             top_p=C.top_p, min_keep=C.min_keep),
                                             C.refine_repetition_penalty, C.max_refine_tokens)  # None: skip_refine_text
    code: PassOptions = PassOptions(SamplingOptions(temperature=C.code_temperature, top_k=C.top_k, top_p=C.top_p,
                                                    min_keep=C.min_keep), C.code_repetition_penalty, C.max_code_tokens)
    use_decoder: bool = True  # mel from the GPT's hiddens (Decoder); False: from the codes (DVAE)
    code_prompt: str = C.code_prompt
    normalize: bool = True  # ChatTTS's Normalizer (needs the chattts package)
    seed: int | None = None
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def from_synthesis(cls, o: SynthesisOptions, default_tokens: int) -> "ChatTTSOptions":
        """Family-neutral options: temperature/top-k/top-p/max tokens go to the code pass; greedy to both."""
        base = cls()

        def sampling(default: SamplingOptions) -> SamplingOptions:
            if o.greedy:
                return SamplingOptions(greedy=True)
            return replace(default, temperature=o.temperature or default.temperature, top_k=o.top_k or default.top_k,
                           top_p=o.top_p or default.top_p)

        code = replace(base.code, sampling=sampling(base.code.sampling), max_new_tokens=o.max_tokens or default_tokens,
                       allow_eos=o.stop_at_eos)
        refine = replace(base.refine, sampling=sampling(base.refine.sampling)) if o.stop_at_eos else None
        return cls(refine=refine, code=code, seed=o.seed, batch_size=o.batch_size or DEFAULT_BATCH)


class ChatTTSPipeline(Pipeline):
    """`speech = pipeline(["你好。", "Hello."], voice="seed-0")`; stages: refine, code, decoder, vocos."""

    def __init__(self, artifact: Artifact, sessions: dict):
        super().__init__(artifact, sessions)
        self.constants = self.recipe.constants
        self.tokenizer = ChatTTSTokenizer(artifact.directory(artifact.manifest["tokenizer"]))
        self._normalizer = None

    options_type = ChatTTSOptions

    def first_stage_tokens(self, options: ChatTTSOptions) -> int:
        return options.code.max_new_tokens

    def load_voice(self, voice: str | Path) -> np.ndarray:
        """A speaker vector: a preset of the artifact (seed-N) or an .npz path."""
        return load_speaker(self.artifact, self.voice_file(voice))

    def split(self, text: str, options=None, progress: Progress = lambda m: None, index: int = 0) -> list[str]:
        """Normalised (ChatTTS's normalizer) pieces of at most one prompt window, cut at sentence ends."""
        clean = self._normalize(text.strip(), self.options(options), progress)
        if not clean or not self.tokenizer.encode(clean):
            raise TtsxError(f"text {index} ({text[:40]!r}) is empty or tokenizes to nothing; give some words")
        window = self.constants.max_prompt_tokens
        if self.tokenizer.count(clean) <= window:
            return [clean]
        return split_for_window(" ".join(clean.split()), self.tokenizer, window)

    def _normalize(self, text: str, options: ChatTTSOptions, progress) -> str:
        """ChatTTS's own Normalizer when the chattts package is installed (as Chat.infer does by default)."""
        if not options.normalize:
            return text
        if self._normalizer is None:
            self._normalizer = _load_normalizer(progress)
        return self._normalizer(text) if self._normalizer else text

    def run_pieces(self, pieces: list[Piece], voice, options: ChatTTSOptions, speech: Speech, progress) -> list:
        """Refine (unless skipped), code pass, Decoder or DVAE, Vocos for one batch of pieces."""
        texts = [p.text for p in pieces]
        if options.refine is not None:
            progress(f"refine: {len(texts)} text piece(s)")
            with speech.timed("refine"):
                texts = self._refine(texts, options.refine, row_random(pieces, 0), speech)
        progress(f"code: {len(texts)} text piece(s)")
        with speech.timed("code"):
            codes, hiddens = self._codes(texts, voice, options, row_random(pieces, 1), speech)
        progress("decoder")
        with speech.timed("decoder"):
            mels = by_length(hiddens if options.use_decoder else codes, lambda group: self._mel(group, options))
        progress("vocos")
        with speech.timed("vocos"):
            return by_length(mels, self._waveform)

    streams_inside_pieces = True

    def check_streaming(self, streaming: StreamOptions) -> None:
        if streaming.overlap is not None:
            raise OptionError("ChatTTS's stream has no overlap setting; it takes chunk (stream_batch), skip "
                              "(pass_first_n_batches) and max_samples (stream_speed)")

    def stream_piece(self, piece: Piece, voice, options: ChatTTSOptions, streaming: StreamOptions, speech: Speech,
                     progress) -> Iterator[np.ndarray]:
        """Chat.infer(stream=True)'s scheme: the refine pass whole; in the code pass, after every `chunk` steps
        (stream_batch) and at its end, every code so far is decoded (Decoder or DVAE, then Vocos); the first
        `skip` decodes (pass_first_n_batches) send nothing, the others send at most `max_samples` (stream_speed)
        of what was not sent; at the end, the rest, less the samples of magnitude 1e-5 or less."""
        chunk = streaming.chunk or STREAM_BATCH
        skip = PASS_FIRST_N_BATCHES if streaming.skip is None else streaming.skip
        most = streaming.max_samples or STREAM_SPEED
        text = piece.text
        if options.refine is not None:
            with speech.timed("refine"):
                text = self._refine([text], options.refine, row_random([piece], 0), speech)[0]
        embeds, lengths = self._code_prompt([text], voice, options)
        loop = self._steps(embeds, lengths, options.code, row_random([piece], 1), text=False)
        sent, decoded, count, wave = 0, 0, 0, np.zeros(0, np.float32)
        while True:
            with speech.timed("code"):
                try:
                    tokens, hiddens, lengths = next(loop)
                except StopIteration as done:
                    tokens, hiddens, lengths = done.value
                    final = True
                else:
                    final = False
            if not final:
                if lengths[0] == count:  # the row ended at this step: GPT.generate counts no step
                    continue
                count = int(lengths[0])
                if count % chunk:
                    continue
            wave = self._stream_wave(tokens[0, : lengths[0]], hiddens[0, : lengths[0]], options, speech)
            decoded += 1
            if decoded > skip:
                end = min(sent + most, len(wave))
                yield wave[sent:end]
                sent = end
            if final:
                break
        speech.record("code", [tokens[0, : lengths[0]].T.copy()], lengths[0])
        rest = wave[sent:]
        yield rest[np.abs(rest) > 1e-5]

    def _stream_wave(self, tokens: np.ndarray, hiddens: np.ndarray, options: ChatTTSOptions, speech: Speech):
        """One row's codes so far ([n, 4] and hiddens [n, H]) decoded to a waveform, as _decode_to_wavs does."""
        group = (hiddens if options.use_decoder else tokens).T[None].astype(
            np.float32 if options.use_decoder else np.int64)
        with speech.timed("decoder"):
            mels = self._mel(group, options)
        with speech.timed("vocos"):
            return self._waveform(np.stack(mels))[0]

    def _refine(self, pieces: list[str], options: PassOptions, rng, speech: Speech) -> list[str]:
        """The refine-text pass: ids before [break_0] decoded back to text (Chat._infer)."""
        ids, lengths = right_padded(*self.tokenizer.encode_batch([f"[Sbreak]{p}[Pbreak]" for p in pieces]))
        tokens, _, lengths = self._generate(self._prompt_embeds(ids), lengths, options, rng, text=True)
        refined = [tokens[b, : lengths[b], 0] for b in range(len(pieces))]
        speech.record("refine", refined, lengths.max(initial=0))
        return self.tokenizer.decode([r[r < self.tokenizer.break_0] for r in refined])

    def _codes(self, pieces: list[str], speaker, options: ChatTTSOptions, rng, speech: Speech):
        """The code pass: codes [4, T] and the hiddens [T, H] that produced them, per piece."""
        embeds, lengths = self._code_prompt(pieces, speaker, options)
        tokens, hiddens, lengths = self._generate(embeds, lengths, options.code, rng, text=False)
        codes = [tokens[b, : lengths[b]].T.copy() for b in range(len(pieces))]
        speech.record("code", codes, lengths.max(initial=0))
        return codes, [hiddens[b, : lengths[b]].T.copy() for b in range(len(pieces))]

    def _code_prompt(self, pieces: list[str], speaker, options: ChatTTSOptions) -> tuple[np.ndarray, np.ndarray]:
        """The code pass's prompt embeddings (the speaker's embedding applied) and lengths."""
        marker = "[spk_emb]" if speaker is not None else "[empty_spk]"
        prompts = []
        for p in pieces:
            for tag in ("[Stts]", "[spk_emb]", "[empty_spk]"):
                p = p.replace(tag, "")
            prompts.append(f"[Stts]{marker}{options.code_prompt}{p.strip()}[Ptts]")
        ids, lengths = right_padded(*self.tokenizer.encode_batch(prompts))
        embeds = self._prompt_embeds(ids)
        if speaker is not None:
            embeds = apply_speaker(embeds, ids, self.tokenizer.spk_emb, speaker)
        return embeds, lengths

    def _prompt_embeds(self, ids: np.ndarray) -> np.ndarray:
        """Embed.forward for a prompt of text tokens: emb_text (the right padding's rows are never attended)."""
        return self._embed_text(ids).astype(np.float32, copy=False)

    def _generate(self, embeds: np.ndarray, prompt_lengths: np.ndarray, options: PassOptions, rng, text: bool):
        """GPT.generate: tokens [B, n, Q], hiddens [B, n, H] and per-row lengths (steps before EOS)."""
        loop = self._steps(embeds, prompt_lengths, options, rng, text)
        while True:
            try:
                next(loop)
            except StopIteration as done:
                return done.value

    def _steps(self, embeds: np.ndarray, prompt_lengths: np.ndarray, options: PassOptions, rng, text: bool):
        """GPT.generate's loop, a generator: after each step it yields (tokens, hiddens, lengths), each row's
        length its tokens so far before EOS; it returns what _generate returns."""
        batch, queues = len(prompt_lengths), 1 if text else self.recipe.gpt.num_vq
        eos = self.tokenizer.eos if text else self.constants.code_eos
        n = options.max_new_tokens
        tokens, hiddens = np.zeros((batch, n, queues), np.int64), np.zeros((batch, n, self.recipe.gpt.hidden), np.float32)
        lengths, done = np.full(batch, n), np.zeros(batch, bool)
        gpt = CausalRunner(self.sessions["gpt"])  # one per generation: streams take turns on the session
        try:
            hidden = gpt.start({"inputs_embeds": embeds}, prompt_lengths, n)["hidden"]
            for i in range(n):
                logits = self._logits(hidden, text)  # [B * Q, V]
                history = tokens[:, :i].transpose(0, 2, 1).reshape(batch * queues, i)
                token = self._choose(logits, history, options, i, eos, rng, text).reshape(batch, queues)
                tokens[:, i], hiddens[:, i] = token, hidden
                finished = (token == eos).any(-1) & ~done
                lengths[finished], done = i, done | finished
                yield tokens, hiddens, np.where(done, lengths, i + 1)
                if done.all() or i == n - 1:
                    break
                step = self._embed_text(token) if text else self._embed_code(token[:, None, :])
                hidden = gpt.step({"inputs_embeds": step})["hidden"]
        finally:
            gpt.close()
        return tokens, hiddens, lengths

    def _logits(self, hidden: np.ndarray, text: bool) -> np.ndarray:
        if text:
            return self.sessions["text_head"].run({"hidden": hidden})["logits"]
        logits = self.sessions["code_heads"].run({"hidden": hidden})["logits"]  # [B, Q, V]
        return logits.reshape(-1, logits.shape[-1])

    def _choose(self, logits, history, options: PassOptions, step: int, eos: int, rng, text: bool) -> np.ndarray:
        """ChatTTS's order: temperature, repetition penalty, top-p, top-k, EOS bar, softmax, draw (or argmax)."""
        s = options.sampling
        max_rows = self.tokenizer.size if text else self.constants.code_eos  # ChatTTS's row cut (processors.py)
        chain = [] if s.greedy else [Temperature(s.temperature)]
        chain.append(RepetitionPenalty(options.repetition_penalty, history, self.constants.repetition_window, max_rows))
        if not s.greedy:
            chain += [TopP(s.top_p, s.min_keep)] if s.top_p is not None else []
            chain += [TopK(s.top_k, s.min_keep)] if s.top_k is not None else []
        if step < options.min_new_tokens or not options.allow_eos:
            chain.append(Suppress(eos))
        x = apply(logits, chain)
        return observe(np.argmax(x, -1) if s.greedy else sample(softmax(x), rng))

    def _embed_text(self, ids: np.ndarray) -> np.ndarray:
        return self.sessions["embed_text"].run({"input_ids": ids.reshape(len(ids), -1)})["embeds"]

    def _embed_code(self, ids: np.ndarray) -> np.ndarray:
        return self.sessions["embed_code"].run({"input_ids": ids})["embeds"]

    def _mel(self, group: np.ndarray, options: ChatTTSOptions) -> list:
        """Equal-length pieces [B, H, T] (hiddens) or [B, 4, T] (codes) -> mel [B, 100, 2T]."""
        if group.shape[-1] == 0:
            return list(np.zeros((len(group), 100, 0), np.float32))
        name, key = ("decoder", "hiddens") if options.use_decoder else ("dvae", "codes")
        return list(self.sessions[name].run({key: group})["mel"])

    def _waveform(self, mels: np.ndarray) -> list:
        if mels.shape[-1] < 2:  # no tokens: no audio
            return list(np.zeros((len(mels), max(0, mels.shape[-1] - 1) * HOP), np.float32))
        return list(self.sessions["vocos"].run({"mel": mels})["waveform"])


def right_padded(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ChatTTS's left-padded batch as rows starting at position 0 (what the in-place cache takes), and lengths.

    A row's positions are then its token count, which is what ChatTTS's cumsum(mask) - 1 gives its real
    tokens under left padding: the same attention, without the pads.
    """
    lengths = mask.sum(1).astype(np.int32)
    out = np.zeros_like(ids)
    for b, n in enumerate(lengths):
        out[b, :n] = ids[b, ids.shape[1] - n:]
    return out, lengths


def _load_normalizer(progress):
    """ChatTTS's Normalizer (homophones, full-width punctuation for Chinese), or False without the package."""
    try:
        from .reference import import_chattts

        ChatTTS = import_chattts()
        from ChatTTS.norm import Normalizer
    except Exception as exc:  # no chattts package: text goes in as written
        progress(f"ChatTTS's text normalizer is unavailable ({exc}); text goes in as written")
        return False
    import logging

    normalizer = Normalizer(str(Path(ChatTTS.__file__).parent / "res" / "homophones_map.json"),
                            logging.getLogger("ChatTTS"))
    return normalizer


PIPELINE = ChatTTSPipeline  # what Family.open_pipeline opens
