"""ParlerFamily: what generic code asks of Parler-TTS beyond its graphs (those are kinds.py's GraphKinds)."""
from __future__ import annotations

from pathlib import Path

from ttsx.recipes.family import Family


class ParlerFamily(Family):
    """parler-tts's ParlerTTSForConditionalGeneration: T5-described voice, delayed 9-codebook decoder, DAC."""

    name = "parler"

    def write_assets(self, model, source, out_dir: Path) -> dict:
        """The snapshot's T5 tokenizer (random weights read UTF-8 bytes) and the description presets."""
        from .voices import write_tokenizer, write_voices

        tokenizer = write_tokenizer(source, out_dir)
        return {"tokenizer": tokenizer, "voices": write_voices(out_dir)}

    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """parler_tts's own generate (greedy, EOS suppressed, `tokens` steps), timed."""
        from .baseline import eager_generate

        return eager_generate(model, artifact, texts, tokens)

    def other_baselines(self, model, artifact, texts: list[str], tokens: int) -> dict:
        """Parler's own static cache + torch.compile (its INFERENCE.md), timed beside the eager one."""
        from .baseline import compiled_baselines

        return compiled_baselines(model, artifact, texts, tokens)


FAMILY = ParlerFamily()
