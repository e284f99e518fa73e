"""The Bark pipeline: text -> semantic -> coarse -> fine -> codec, over any backend's stage sessions."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import TtsxError
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.pipeline import Piece, Pipeline, Progress, Speech, SynthesisOptions, by_length, row_random
from ttsx.runtimes.sampling import SamplingOptions
from ttsx.runtimes.text import ByteTokenizer, HfTokenizer, normalize, split_for_window

from .recipe import BarkConstants
from .stages import SemanticOptions, coarse_tokens, decode_audio, fine_codes, semantic_tokens
from .voices import load_voice

SEMANTIC_TEMPERATURE = 0.7  # suno's Bark defaults
COARSE_TEMPERATURE = 0.7
FINE_TEMPERATURE = 0.5
DEFAULT_BATCH = 8  # window pieces run together
MAX_SEMANTIC_TOKENS = BarkConstants().max_semantic_new_tokens


@dataclass(frozen=True)
class BarkOptions:
    """Everything that decides Bark's tokens; the defaults follow suno's Bark (sampling at 0.7 / 0.5)."""

    semantic: SemanticOptions = SemanticOptions(SamplingOptions(temperature=SEMANTIC_TEMPERATURE))
    coarse: SamplingOptions = SamplingOptions(temperature=COARSE_TEMPERATURE)
    fine_temperature: float | None = FINE_TEMPERATURE  # None or 1.0: argmax, as transformers does
    seed: int | None = None  # seeds every sampling step; None draws fresh entropy
    batch_size: int = DEFAULT_BATCH  # window pieces run together

    @classmethod
    def greedy(cls, max_semantic_tokens: int = MAX_SEMANTIC_TOKENS, **kwargs) -> "BarkOptions":
        """transformers' BarkModel.generate(do_sample=False) behaviour (kwargs: seed, batch_size)."""
        return replace(cls.from_synthesis(SynthesisOptions(greedy=True, max_tokens=max_semantic_tokens),
                                          MAX_SEMANTIC_TOKENS), **kwargs)

    @classmethod
    def from_synthesis(cls, o: SynthesisOptions, default_tokens: int) -> "BarkOptions":
        """Map the family-neutral options onto Bark's stages (temperature, top-k, top-p for semantic and coarse)."""
        if o.greedy:
            sampling = SamplingOptions(greedy=True)
        else:
            sampling = SamplingOptions(temperature=o.temperature or SEMANTIC_TEMPERATURE, top_k=o.top_k, top_p=o.top_p)
        semantic = SemanticOptions(sampling, max_new_tokens=o.max_tokens or default_tokens, allow_eos=o.stop_at_eos)
        return cls(semantic=semantic, coarse=sampling, fine_temperature=None if o.greedy else FINE_TEMPERATURE,
                   seed=o.seed, batch_size=o.batch_size or DEFAULT_BATCH)


class BarkPipeline(Pipeline):
    """`speech = pipeline(["Hello.", "Hi."], voice="v2/en_speaker_6")`; stages: semantic, coarse, fine, codec."""

    def __init__(self, artifact: Artifact, sessions: dict):
        super().__init__(artifact, sessions)
        self.constants = self.recipe.constants
        self.tokenizer = tokenizer(artifact)
        self.semantic = CausalRunner(sessions["semantic"])
        self.coarse = CausalRunner(sessions["coarse"])

    options_type = BarkOptions

    def first_stage_tokens(self, options: BarkOptions) -> int:
        return options.semantic.max_new_tokens

    def load_voice(self, voice: str | Path) -> dict:
        """A Bark history prompt: a preset of the artifact or an .npz path."""
        return load_voice(self.artifact, self.voice_file(voice))

    def split(self, text: str, options=None, progress: Progress = lambda m: None, index: int = 0) -> list[str]:
        """Whitespace-normalised pieces of at most one text window (256 tokens), cut at sentence ends."""
        clean = normalize(text)
        if not clean or not self.tokenizer.encode(clean):
            raise TtsxError(f"text {index} ({text[:40]!r}) is empty or tokenizes to nothing; give some words")
        return split_for_window(clean, self.tokenizer, self.constants.max_text_tokens)

    def run_pieces(self, pieces: list[Piece], voice, options: BarkOptions, speech: Speech, progress) -> list:
        """Run one batch of window pieces; tokens and stage times go into `speech`, the pieces' audio is returned."""
        c = self.constants
        batch = [self.tokenizer.encode(p.text) for p in pieces]
        progress(f"semantic: {len(batch)} text piece(s)")
        with speech.timed("semantic"):
            semantic = semantic_tokens(self.semantic, self._text_ids(batch), self._semantic_history(voice), c,
                                       options.semantic, row_random(pieces, 0))
        progress(f"coarse: {max(len(s) for s in semantic)} semantic tokens")
        with speech.timed("coarse"):
            coarse = coarse_tokens(self.coarse, semantic, voice, c, options.coarse, row_random(pieces, 1))
        progress(f"fine: {max(len(x) for x in coarse) // c.n_coarse_codebooks} frames")
        fine_rng = row_random(pieces, 2)
        with speech.timed("fine"):
            fine = by_length(coarse, lambda group, index: fine_codes(self.sessions["fine"], group, voice, c,
                                                                     options.fine_temperature, fine_rng.rows(index)),
                             indexed=True)
        progress("codec")
        with speech.timed("codec"):
            audio = by_length(fine, lambda group: decode_audio(self.sessions["codec"], group))
        speech.record("semantic", semantic)
        speech.record("coarse", coarse)
        speech.record("fine", fine, steps=0)  # one non-causal call per window, no steps
        return audio

    def _text_ids(self, batch: list[list[int]]) -> np.ndarray:
        c = self.constants
        ids = np.full((len(batch), c.max_text_tokens), c.text_pad, np.int64)
        for b, tokens in enumerate(batch):
            ids[b, : len(tokens)] = np.asarray(tokens[: c.max_text_tokens]) + c.text_offset
        return ids

    def _semantic_history(self, prompt: dict | None) -> np.ndarray:
        c = self.constants
        history = np.full(c.max_text_tokens, c.semantic_pad, np.int64)
        if prompt is not None:
            tail = prompt["semantic_prompt"][-c.max_text_tokens:]
            history[: len(tail)] = tail
        return history


BYTE_ID_OFFSET = 1000  # random-weights artifacts: text ids 1000 + UTF-8 byte, inside the BERT vocabulary


def tokenizer(artifact: Artifact):
    """The artifact's BERT tokenizer; bytes as ids for a random-weights artifact exported without one."""
    if artifact.manifest.get("tokenizer"):
        return HfTokenizer(artifact.directory(artifact.manifest["tokenizer"]))
    if artifact.manifest["source"].get("random_weights"):
        return ByteTokenizer(BYTE_ID_OFFSET)
    raise TtsxError(f"artifact {artifact.root} has no tokenizer; re-export from a checkpoint directory that "
                    "holds one (BarkProcessor.save_pretrained writes it)")


PIPELINE = BarkPipeline  # what Family.open_pipeline opens
