"""Seeded feeds for every graph kind, and the PyTorch reference outputs for them.

References call transformers' own modules the way `BarkModel.generate` does (HF DynamicCache,
`BarkFineModel.forward(codebook_idx, ...)`, `BarkModel.codec_decode`), never the export wrappers,
so parity compares the graphs against transformers itself.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ttsx.recipes.bark import BarkRecipe
from ttsx.recipes.spec import GraphSpec

from .bark_graphs import build_cache, flatten_cache, semantic_prefill_embeds

BERT_VOCAB = 119_547  # bert-base-multilingual-cased tokenizer ids


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
