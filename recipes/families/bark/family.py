"""BarkFamily: what generic code asks of Bark beyond its graphs (those are kinds.py's GraphKinds)."""
from __future__ import annotations

from pathlib import Path

from ttsx.recipes.family import Family

CALIBRATION_PROMPTS = (  # Bark's own text conventions among them: a speaker's name, a [laughs] cue
    "Hello, my name is Suno. And, uh, I like pizza.",
    "The quick brown fox jumps over the lazy dog; then it rests in the shade.",
    "Is this the real life? Is this just fantasy?",
    "Numbers like 3.14, 2026 and 42 are read aloud, too!",
    "Bonjour, comment allez-vous aujourd'hui ?",
    "Guten Morgen! Wie spät ist es?",
    "[laughs] That was not what I expected... at all.",
    "In the beginning the universe was created. This has made a lot of people very angry.",
)
AGREEMENT_PROMPTS = ("Good evening, and welcome to the late news.", "Can you hear the music? [music]")


class BarkFamily(Family):
    """suno's Bark through transformers: semantic and coarse GPTs, the non-causal fine model, EnCodec."""

    name = "bark"

    def write_assets(self, model, source, out_dir: Path) -> dict:
        """A checkpoint's BERT tokenizer and speaker presets (as voices/*.npz); random weights have neither."""
        from ttsx.exporter.assets import copy_tokenizer

        from .voices import convert_voices

        if source.directory is None:
            return {}
        return {"tokenizer": copy_tokenizer(source.directory, out_dir),
                "voices": convert_voices(source.directory, out_dir)}

    def calibration_prompts(self) -> tuple[str, ...]:
        return CALIBRATION_PROMPTS

    def agreement_prompts(self) -> tuple[str, ...]:
        return AGREEMENT_PROMPTS

    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """BarkModel.generate's stage calls, greedy, EOS suppressed."""
        from .baseline import eager_generate
        from .pipeline import tokenizer

        return eager_generate(model, artifact.recipe, tokenizer(artifact), texts, tokens)


FAMILY = BarkFamily()
