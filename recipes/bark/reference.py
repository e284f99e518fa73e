"""Bark's PyTorch reference (transformers' BarkModel): loading it, parity cases, seeded feeds, reference outputs.

References call transformers' own modules the way `BarkModel.generate` does (HF DynamicCache,
`BarkFineModel.forward(codebook_idx, ...)`, `BarkModel.codec_decode`), never the export wrappers,
so parity compares the graphs against transformers itself.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ttsx.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers
from ttsx.recipes.spec import GraphSpec

from .graphs import build_cache, flatten_cache, semantic_prefill_embeds
from .recipe import MIN_CODEC_FRAMES, BarkRecipe, GptArch

BERT_VOCAB = 119_547  # bert-base-multilingual-cased tokenizer ids
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
    if source.kind == "checkpoint" and not Path(location, "config.json").is_file():
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
    if source.kind == "random":
        return random_reference(recipe, source.seed)
    return checkpoint_reference(recipe, source)


@dataclass(frozen=True)
class Case:
    """One parity case: a label and the sizes it exercises."""

    label: str
    batch: int
    length: int  # prefill T, decode past length, fine frames or codec frames (unused for semantic prefill)
    codebook: int = 0  # fine only


def gpt_of(model, spec: GraphSpec):
    """The HF causal sub-model a semantic/coarse graph belongs to."""
    return {"semantic": model.semantic, "coarse": model.coarse_acoustics}[spec.stage]


def make_feed(model, recipe: BarkRecipe, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
    """Inputs for `spec` at the case's sizes: valid id ranges; pasts computed by the reference itself."""
    c, b = recipe.constants, case.batch
    if spec.kind == "semantic_prefill":
        n_text = rng.integers(1, c.max_text_tokens + 1)
        text = np.full((b, c.max_text_tokens), c.text_pad, np.int64)
        text[:, :n_text] = rng.integers(0, BERT_VOCAB, (b, n_text)) + c.text_offset
        history = rng.integers(0, c.semantic_vocab, (b, c.max_text_tokens)).astype(np.int64)
        history[:, rng.integers(0, c.max_text_tokens):] = c.semantic_pad
        return {"text_ids": text, "history_ids": history}
    if spec.kind == "causal_prefill":
        return {"input_ids": rng.integers(0, gpt_of(model, spec).config.input_vocab_size, (b, case.length))}
    if spec.kind == "causal_decode":
        gpt = gpt_of(model, spec)
        prefix = torch.from_numpy(rng.integers(0, gpt.config.input_vocab_size, (b, case.length)))
        with torch.no_grad():
            past = flatten_cache(gpt(input_ids=prefix, use_cache=True).past_key_values)
        feed = {"input_ids": rng.integers(0, gpt.config.output_vocab_size, (b, 1))}
        feed.update({name: t.numpy() for name, t in zip(spec.input_names[1:], past)})
        return feed
    if spec.kind == "fine":
        ids = rng.integers(0, c.codebook_size + 1, (b, case.length, recipe.fine.n_codes_total))  # 1024 = pad
        return {"input_ids": ids, "codebook_idx": np.array(case.codebook, np.int64)}
    if spec.kind == "codec":
        return {"codes": rng.integers(0, c.codebook_size, (b, recipe.codec.n_codebooks, case.length))}
    raise KeyError(f"no feed maker for graph kind {spec.kind!r}")


@torch.no_grad()
def reference_outputs(model, recipe: BarkRecipe, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """transformers' outputs for `feed`, keyed by the graph's output names."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()}
    if spec.kind in ("semantic_prefill", "causal_prefill", "causal_decode"):
        outs = _causal_reference(model, recipe, spec, t)
    elif spec.kind == "fine":
        outs = [model.fine_acoustics(int(t["codebook_idx"]), t["input_ids"]).logits]
    elif spec.kind == "codec":
        outs = [model.codec_decode(t["codes"]).reshape(t["codes"].shape[0], 1, -1)]
    else:
        raise KeyError(f"no reference for graph kind {spec.kind!r}")
    return {name: o.numpy() for name, o in zip(spec.output_names, outs)}


def _causal_reference(model, recipe: BarkRecipe, spec: GraphSpec, t: dict) -> list[torch.Tensor]:
    gpt = gpt_of(model, spec)
    if spec.kind == "semantic_prefill":
        embeds = semantic_prefill_embeds(gpt, t["text_ids"], t["history_ids"], recipe.constants.semantic_infer)
        out = gpt(inputs_embeds=embeds, use_cache=True)
    elif spec.kind == "causal_prefill":
        out = gpt(input_ids=t["input_ids"], use_cache=True)
    else:
        past = tuple(t[name].clone() for name in spec.input_names[1:])
        out = gpt(input_ids=t["input_ids"], past_key_values=build_cache(past), use_cache=True)
    return [out.logits[:, -1, :], *flatten_cache(out.past_key_values)]


def example_case(spec: GraphSpec) -> Case:
    """Sizes used to trace a graph for export: batch 2 and lengths > 1 so no axis is specialised."""
    length = {"causal_prefill": 5, "causal_decode": 3, "fine": 16, "codec": 16}.get(spec.kind, 0)
    return Case("export", batch=2, length=length, codebook=2)


def parity_cases(recipe: BarkRecipe, spec: GraphSpec) -> list[Case]:
    """Cases per graph: batch 1 and >1; empty, small and near-limit pasts; every fine codebook."""
    c, block = recipe.constants, recipe.semantic.block_size
    window = c.coarse_prompt_tokens  # longest coarse prefill the reference runs
    cases = {
        "semantic_prefill": [Case("batch=1 past=0", 1, 0), Case("batch=3 past=0", 3, 0)],
        "causal_prefill": [Case("batch=1 T=1", 1, 1), Case("batch=3 T=37", 3, 37),
                           Case(f"batch=1 T={window} (window)", 1, window), Case(f"batch=2 T={block}", 2, block)],
        "causal_decode": [Case("batch=1 past=1", 1, 1), Case("batch=3 past=9", 3, 9),
                          Case("batch=1 past=257", 1, 257), Case(f"batch=2 past={block - 1} (limit)", 2, block - 1)],
        "fine": [Case(f"batch=1 codebook={k}", 1, c.fine_window, k)
                 for k in range(recipe.fine.n_codes_given, recipe.fine.n_codes_total)]
        + [Case("batch=2 codebook=2 frames=100", 2, 100, 2)],
        "codec": [Case("batch=1 frames=75", 1, 75), Case(f"batch=2 frames={MIN_CODEC_FRAMES} (min)", 2, MIN_CODEC_FRAMES),
                  Case("batch=1 frames=1024", 1, c.fine_window)],
    }
    return cases[spec.kind]
