"""GptSovitsFamily: what generic code asks of GPT-SoVITS beyond its graphs (those are kinds.py's GraphKinds)."""
from __future__ import annotations

from pathlib import Path

from ttsx.recipes.family import Family


class GptSovitsFamily(Family):
    """RVC-Boss's GPT-SoVITS v2 from the user's checkout: a prefix-LM text-to-semantic GPT and a VITS decoder."""

    name = "gpt_sovits"
    on_demand_stages = ("voice", "stream")  # once per new voice (`ttsx voice`); the streamed decode, when streaming

    def fingerprint(self, ref) -> str:
        """sha256 over the t2s and SoVITS weights."""
        from ttsx.recipes.source import weights_fingerprint

        return weights_fingerprint(ref.modules())

    def write_assets(self, ref, source, out_dir: Path) -> dict:
        """The checkout's phoneme symbol table with the semantic ids' likeness to silence (streaming's split
        points), and seeded voices for random weights (a reference's prompt ids,
        phonemes and spectrogram each; a checkpoint's voices come from its users' own reference clips)."""
        from .phonemes import write_symbols
        from .streaming import write_mute_similarity
        from .voices import draw_voices

        voices = draw_voices(ref, out_dir) if source.origin == "random" else {}
        tokenizer = write_symbols(ref.upstream.symbols2.symbols, out_dir)
        write_mute_similarity(ref.t2s, out_dir / tokenizer)
        return {"tokenizer": tokenizer, "voices": voices}

    def calibration_prompts(self) -> tuple[str, ...]:
        """Phoneme texts (ttsx reads them without upstream's front end)."""
        from .phonemes import CALIBRATION

        return CALIBRATION

    def agreement_prompts(self) -> tuple[str, ...]:
        from .phonemes import AGREEMENT

        return AGREEMENT

    def bench_prompts(self) -> tuple[str, ...]:
        from .phonemes import BENCH

        return BENCH

    def held_out_prompts(self) -> tuple[str, ...]:
        from .phonemes import HELD_OUT

        return HELD_OUT

    def eager_baseline(self, ref, artifact, texts: list[str], tokens: int):
        """Upstream's infer_panel (top_k 1, EOS masked for `tokens` steps) and SynthesizerTrn.decode, timed."""
        from .baseline import eager_infer

        return eager_infer(ref, artifact, texts, tokens)


FAMILY = GptSovitsFamily()
