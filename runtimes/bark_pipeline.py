"""The Bark pipeline: text -> semantic -> coarse -> fine -> codec, over any backend's stage sessions."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ttsx.artifact import Artifact, safe_path
from ttsx.errors import TtsxError

from .bark_stages import CausalRunner, SemanticOptions, coarse_tokens, decode_audio, fine_codes, semantic_tokens
from .factory import open_sessions
from .sampling import SamplingOptions
from .session import StageSession
from .text import ByteTokenizer, HfTokenizer, normalize, split_for_window
from .voices import load_voice

Progress = Callable[[str], None]


@dataclass(frozen=True)
class GenerationOptions:
    """Everything that decides the tokens; the defaults follow suno's Bark (sampling at 0.7 / 0.5)."""

    semantic: SemanticOptions = SemanticOptions(SamplingOptions(temperature=0.7))
    coarse: SamplingOptions = SamplingOptions(temperature=0.7)
    fine_temperature: float | None = 0.5  # None or 1.0: argmax, as transformers does
    seed: int | None = None  # seeds every sampling step; None draws fresh entropy
    batch_size: int = 8  # window pieces run together

    @classmethod
    def greedy(cls, max_semantic_tokens: int = 768, **kwargs) -> "GenerationOptions":
        """transformers' BarkModel.generate(do_sample=False) behaviour."""
        semantic = SemanticOptions(SamplingOptions(greedy=True), max_new_tokens=max_semantic_tokens)
        return cls(semantic=semantic, coarse=SamplingOptions(greedy=True), fine_temperature=None, **kwargs)


@dataclass
class Speech:
    """Audio per input text (float32 at sample_rate) plus the tokens that made it (per window piece)."""

    audio: list[np.ndarray]
    sample_rate: int
    semantic: list[np.ndarray] = field(default_factory=list)
    coarse: list[np.ndarray] = field(default_factory=list)
    fine: list[np.ndarray] = field(default_factory=list)


class BarkPipeline:
    """Load once, call many times: `speech = pipeline(["Hello.", "Hi."], voice="v2/en_speaker_6")`."""

    def __init__(self, artifact: Artifact, backend: str = "onnxruntime", reference_model=None,
                 wrap: Callable[[StageSession], StageSession] | None = None, **session_options):
        self.artifact, self.recipe = artifact, artifact.recipe
        self.constants = self.recipe.constants
        self.tokenizer = _tokenizer(artifact)
        self._sessions = open_sessions(artifact, artifact.graph_names, backend, reference_model, **session_options)
        if wrap is not None:  # e.g. calibration capture (ttsx.exporter.calibration)
            self._sessions = {name: wrap(session) for name, session in self._sessions.items()}
        self.semantic = CausalRunner(self._sessions["semantic_prefill"], self._sessions["semantic_decode"])
        self.coarse = CausalRunner(self._sessions["coarse_prefill"], self._sessions["coarse_decode"])

    def __enter__(self) -> "BarkPipeline":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release every stage session."""
        for session in self._sessions.values():
            session.close()

    def __call__(self, texts: str | list[str], voice: str | Path | None = None,
                 options: GenerationOptions = GenerationOptions(), progress: Progress = lambda m: None) -> Speech:
        """Synthesize one text or a list; long texts are split at sentence ends and their audio joined."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._check_limits(options)
        pieces, owners = self._pieces(texts)
        prompt = load_voice(self.artifact, voice) if voice is not None else None
        rng = np.random.default_rng(options.seed)
        speech, piece_audio = Speech([], self.constants.sample_rate), []
        for start in range(0, len(pieces), options.batch_size):
            batch = pieces[start: start + options.batch_size]
            piece_audio += self._run_batch(batch, prompt, options, rng, speech, progress)
        speech.audio = [np.concatenate([a for a, o in zip(piece_audio, owners) if o == t]) for t in range(len(texts))]
        return speech

    def _check_limits(self, options: GenerationOptions) -> None:
        """Semantic tokens must fit the positions left in the block after the prefill."""
        limit = self.recipe.semantic.block_size - self.constants.semantic_prefill_positions + 1
        if options.semantic.max_new_tokens > limit:
            raise TtsxError(f"max semantic tokens {options.semantic.max_new_tokens} exceeds the model's {limit}")

    def _pieces(self, texts: list[str]) -> tuple[list[list[int]], list[int]]:
        """Token ids per window piece and the index of the text each piece belongs to."""
        pieces, owners = [], []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TtsxError(f"text {i} is a {type(text).__name__}, expected str")
            clean = normalize(text)
            if not clean or not self.tokenizer.encode(clean):
                raise TtsxError(f"text {i} ({text[:40]!r}) is empty or tokenizes to nothing; give some words")
            for piece in split_for_window(clean, self.tokenizer, self.constants.max_text_tokens):
                pieces.append(self.tokenizer.encode(piece))
                owners.append(i)
        return pieces, owners

    def _run_batch(self, batch, prompt, options: GenerationOptions, rng, speech: Speech, progress) -> list:
        """Run one batch of window pieces; tokens go into `speech`, the pieces' audio is returned."""
        c = self.constants
        progress(f"semantic: {len(batch)} text piece(s)")
        semantic = semantic_tokens(self.semantic, self._text_ids(batch), self._semantic_history(prompt), c,
                                   options.semantic, rng)
        progress(f"coarse: {max(len(s) for s in semantic)} semantic tokens")
        coarse = coarse_tokens(self.coarse, semantic, prompt, c, options.coarse, rng)
        progress(f"fine: {max(len(x) for x in coarse) // c.n_coarse_codebooks} frames")
        fine = self._by_length(coarse, lambda group: fine_codes(self._sessions["fine"], group, prompt, c,
                                                                options.fine_temperature, rng))
        progress("codec")
        audio = self._by_length(fine, lambda group: decode_audio(self._sessions["codec"], group))
        speech.semantic += semantic
        speech.coarse += coarse
        speech.fine += fine
        return audio

    @staticmethod
    def _by_length(items: list[np.ndarray], run) -> list[np.ndarray]:
        """Run `run` on stacks of equal-length items (batch results equal solo results); keep order."""
        out: list = [None] * len(items)
        for length in sorted({x.shape[-1] for x in items}):
            index = [i for i, x in enumerate(items) if x.shape[-1] == length]
            for i, result in zip(index, run(np.stack([items[i] for i in index]))):
                out[i] = result
        return out

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


def _tokenizer(artifact: Artifact):
    if artifact.manifest.get("tokenizer"):
        return HfTokenizer(safe_path(artifact.root, artifact.manifest["tokenizer"]))
    if artifact.manifest["source"].get("random_weights"):
        return ByteTokenizer()
    raise TtsxError(f"artifact {artifact.root} has no tokenizer; re-export from a checkpoint directory that "
                    "holds one (BarkProcessor.save_pretrained writes it)")
