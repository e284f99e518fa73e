"""Bark's PyTorch reference, transformers' BarkModel: seeded random weights or a checkpoint of the recipe's architecture."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ttsx.base.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers


from .recipe import BarkRecipe, GptArch

HOW_TO_GET = (
    "On a machine with network access run: python -c \"from transformers import BarkModel, "
    "BarkProcessor; m='suno/bark-small'; BarkModel.from_pretrained(m).save_pretrained('DIR'); "
    "BarkProcessor.from_pretrained(m).save_pretrained('DIR')\" and pass --model DIR "
    "(or use --random-weights to exercise the toolchain without real weights)."
)


def bark_config(recipe: BarkRecipe):
    """The transformers BarkConfig for the recipe's architecture (vocab sizes set explicitly)."""
    from transformers import BarkConfig

    def gpt(a: GptArch, **extra) -> dict:
        return dict(num_layers=a.layers, hidden_size=a.hidden, num_heads=a.heads, input_vocab_size=a.input_vocab,
                    output_vocab_size=a.output_vocab, block_size=a.block_size, bias=a.bias, **extra)

    c = recipe.codec
    codec = dict(model_type="encodec", num_filters=c.num_filters, hidden_size=c.hidden_size,
                 upsampling_ratios=list(c.upsampling_ratios), codebook_size=c.codebook_size)
    fine = gpt(recipe.fine, n_codes_total=recipe.fine.n_codes_total, n_codes_given=recipe.fine.n_codes_given)
    return BarkConfig(semantic_config=gpt(recipe.semantic), coarse_acoustics_config=gpt(recipe.coarse),
                      fine_acoustics_config=fine, codec_config=codec)


def bark_generation_config(recipe: BarkRecipe):
    """transformers' BarkGenerationConfig built from the recipe constants."""
    from transformers.models.bark.generation_configuration_bark import BarkGenerationConfig

    c = recipe.constants
    semantic = dict(eos_token_id=c.semantic_pad, text_encoding_offset=c.text_offset, text_pad_token=c.text_pad,
                    semantic_infer_token=c.semantic_infer, semantic_vocab_size=c.semantic_vocab,
                    max_input_semantic_length=c.max_text_tokens, semantic_rate_hz=c.semantic_rate_hz,
                    max_new_tokens=c.max_semantic_new_tokens)
    coarse = dict(coarse_semantic_pad_token=c.coarse_semantic_pad, coarse_rate_hz=c.coarse_rate_hz,
                  n_coarse_codebooks=c.n_coarse_codebooks, coarse_infer_token=c.coarse_infer,
                  max_coarse_input_length=c.max_coarse_input, max_coarse_history=c.max_coarse_history,
                  sliding_window_len=c.coarse_window)
    fine = dict(max_fine_history_length=c.fine_history, max_fine_input_length=c.fine_window,
                n_fine_codebooks=c.n_fine_codebooks)
    return BarkGenerationConfig(semantic_config=semantic, coarse_acoustics_config=coarse,
                                fine_acoustics_config=fine, sample_rate=c.sample_rate, codebook_size=c.codebook_size)


def random_reference(recipe: BarkRecipe, seed: int):
    """The recipe's real architecture with seeded random weights (no speech: for export/parity/speed).

    transformers leaves EnCodec's codebooks at zero, which makes the codec ignore its codes; every
    all-zero float buffer a checkpoint fills gets seeded random values too.
    """
    from transformers import BarkModel

    torch.manual_seed(seed)
    model = BarkModel(bark_config(recipe)).eval()
    fill_degenerate_buffers(model, torch.Generator().manual_seed(seed))
    model.generation_config = bark_generation_config(recipe)
    return model


def checkpoint_reference(recipe: BarkRecipe, source: ModelSource):
    """Load a save_pretrained snapshot (or hub id) and check it has the recipe's architecture."""
    from transformers import BarkModel

    location = os.path.expanduser(source.location or "")
    if source.origin == "checkpoint" and not Path(location, "config.json").is_file():
        raise SourceError(f"{location!r} is not a Bark checkpoint directory (no config.json). {HOW_TO_GET}")
    try:
        model = BarkModel.from_pretrained(location).eval()  # safetensors, or torch.load(weights_only=True)
    except pickle.UnpicklingError:
        raise SourceError(f"could not load Bark weights from {location!r}: the pickled checkpoint holds objects "
                          "other than tensors, and ttsx never unpickles those (they can run code). Convert it "
                          "to model.safetensors with a trusted tool first.") from None
    except (OSError, ValueError) as exc:
        raise SourceError(f"could not load Bark weights from {location!r}: {exc}. {HOW_TO_GET}") from exc
    check_architecture(recipe, model.config)
    return model


def check_architecture(recipe: BarkRecipe, config) -> None:
    """Raise SourceError listing every field where `config` differs from the recipe."""
    expected = bark_config(recipe)
    fields = ("num_layers", "hidden_size", "num_heads", "input_vocab_size", "output_vocab_size", "block_size")
    diffs = []
    for sub in ("semantic_config", "coarse_acoustics_config", "fine_acoustics_config"):
        want, got = getattr(expected, sub), getattr(config, sub)
        diffs += [f"{sub}.{f}: checkpoint {getattr(got, f)} != recipe {getattr(want, f)}"
                  for f in fields if getattr(got, f) != getattr(want, f)]
    if diffs:
        raise SourceError(f"checkpoint does not match recipe {recipe.name!r}: " + "; ".join(diffs)
                          + ". Pick the recipe of that checkpoint (bark-small or bark).")


def load_reference(recipe: BarkRecipe, source: ModelSource):
    """The reference BarkModel for a source."""
    if source.origin == "random":
        return random_reference(recipe, source.seed)
    return checkpoint_reference(recipe, source)
