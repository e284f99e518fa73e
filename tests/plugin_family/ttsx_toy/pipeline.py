"""The toy generation loop: a text's bytes and the speak marker -> codes until EOS -> the vocoder's waveform."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttsx.base.errors import TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.pipeline import Pipeline, Speech, SynthesisOptions, by_length, row_random
from ttsx.runtimes.sampling import SamplingOptions, choose
from ttsx.runtimes.text import ByteTokenizer, normalize, split_for_window

from .recipe import EOS, FIRST_CODE, SPEAK, WINDOW

DEFAULT_BATCH = 4


@dataclass(frozen=True)
class ToyOptions:
    """SynthesisOptions with the toy defaults filled in."""

    sampling: SamplingOptions
    max_tokens: int
    stop_at_eos: bool = True
    seed: int | None = None
    batch_size: int = DEFAULT_BATCH

    @classmethod
    def from_synthesis(cls, o: SynthesisOptions, default_tokens: int) -> "ToyOptions":
        sampling = SamplingOptions(greedy=o.greedy, temperature=o.temperature or 0.8, top_k=o.top_k, top_p=o.top_p)
        return cls(sampling, o.max_tokens or default_tokens, o.stop_at_eos, o.seed, o.batch_size or DEFAULT_BATCH)


class ToyPipeline(Pipeline):
    """Stages: lm (bytes -> codes), vocoder (codes -> waveform)."""

    def __init__(self, artifact, sessions: dict):
        super().__init__(artifact, sessions)
        self.lm, self.tokenizer = CausalRunner(sessions["lm"]), ByteTokenizer()

    options_type = ToyOptions

    def first_stage_tokens(self, options: ToyOptions) -> int:
        return options.max_tokens

    def load_voice(self, voice):
        raise TtsxError(f"unknown voice {str(voice)!r}; the toy family has no voices")

    def split(self, text: str, options=None, progress=None, index: int = 0) -> list[str]:
        clean = normalize(text)
        if not clean:
            raise TtsxError(f"text {index} ({text[:40]!r}) is empty; give some words")
        return split_for_window(clean, self.tokenizer, WINDOW)

    def run_pieces(self, pieces, voice, options: ToyOptions, speech: Speech, progress) -> list[np.ndarray]:
        prompts = [self.tokenizer.encode(p.text) + [SPEAK] for p in pieces]
        ids = np.zeros((len(prompts), max(map(len, prompts))), np.int64)
        for b, prompt in enumerate(prompts):
            ids[b, : len(prompt)] = prompt
        sampling = options.sampling
        rng, n = row_random(pieces, 0), options.max_tokens
        progress(f"lm: {len(pieces)} text piece(s)")
        with speech.timed("lm"):
            logits = self.lm.start({"input_ids": ids}, [len(p) for p in prompts], n)["logits"]
            codes, done = np.zeros((len(pieces), n), np.int64), np.zeros(len(pieces), bool)
            lengths = np.full(len(pieces), n)
            for step in range(n):
                allowed = logits[:, FIRST_CODE:] if options.stop_at_eos else logits[:, FIRST_CODE:EOS]
                choice = choose(allowed, sampling, rng)
                finished = (FIRST_CODE + choice == EOS) & ~done
                lengths[finished], done = step, done | finished
                codes[:, step] = np.where(done, 0, choice)
                if done.all() or step == n - 1:
                    break
                logits = self.lm.step({"input_ids": (FIRST_CODE + codes[:, step: step + 1]).astype(np.int64)})["logits"]
            self.lm.close()
        rows = [codes[b, : lengths[b]] for b in range(len(pieces))]
        speech.record("lm", rows, lengths.max())
        with speech.timed("vocoder"):
            spoken = [r for r in rows if len(r)]
            audio = iter(by_length(spoken, lambda group: list(self.sessions["vocoder"].run({"codes": group})["waveform"])))
            return [next(audio) if len(r) else np.zeros(0, np.float32) for r in rows]
