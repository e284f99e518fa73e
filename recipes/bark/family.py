"""BarkFamily: how generic code exports, checks and runs Bark (modules are imported on use)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.recipes.family import Family


class BarkFamily(Family):
    """suno's Bark through transformers: semantic and coarse GPTs, the non-causal fine model, EnCodec."""

    name = "bark"

    def load_reference(self, recipe, source):
        """transformers' BarkModel: seeded random weights or a save_pretrained checkpoint."""
        from .reference import load_reference

        return load_reference(recipe, source)

    def source_hint(self) -> str:
        """How to get a checkpoint directory."""
        from .reference import HOW_TO_GET

        return HOW_TO_GET

    def graph_module(self, model, recipe, spec, kv_cache: str = "onnxruntime"):
        """The export wrapper over BarkModel's sub-models."""
        from .graphs import graph_module

        return graph_module(model, recipe, spec, kv_cache)

    def example_feed(self, model, recipe, spec, rng: np.random.Generator) -> dict:
        """Batch 2, lengths > 1."""
        from .reference import example_case, make_feed

        return make_feed(model, recipe, spec, example_case(spec), rng)

    def write_assets(self, model, source, out_dir: Path) -> dict:
        """A checkpoint's BERT tokenizer and speaker presets (as voices/*.npz); random weights have neither."""
        from ttsx.exporter.assets import copy_tokenizer

        from .voices import convert_voices

        if source.directory is None:
            return {}
        return {"tokenizer": copy_tokenizer(source.directory, out_dir),
                "voices": convert_voices(source.directory, out_dir)}

    def parity_cases(self, recipe, spec) -> list:
        """Batch 1 and > 1, pasts up to the block limit, every fine codebook, codec lengths."""
        from .reference import parity_cases

        return parity_cases(recipe, spec)

    def make_feed(self, model, recipe, spec, case, rng: np.random.Generator) -> dict:
        """Valid id ranges; pasts computed by the reference."""
        from .reference import make_feed

        return make_feed(model, recipe, spec, case, rng)

    def reference_outputs(self, model, recipe, spec, feed: dict) -> dict:
        """transformers' own forward calls."""
        from .reference import reference_outputs

        return reference_outputs(model, recipe, spec, feed)

    def open_pipeline(self, artifact, sessions: dict):
        """The four-stage Bark loop."""
        from .pipeline import BarkPipeline

        return BarkPipeline(artifact, sessions)

    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """BarkModel.generate's stage calls, greedy, EOS suppressed."""
        from .baseline import eager_generate
        from .pipeline import _tokenizer

        return eager_generate(model, artifact.recipe, _tokenizer(artifact), texts, tokens)


FAMILY = BarkFamily()
