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

from ttsx.exporter.cache_rows import lengths_feed, pack, row_lengths
from ttsx.runtimes.causal import capacity_for

from .graphs import build_cache, flatten_cache
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
    length: int  # prefill tokens (longest row), decode past, fine frames or codec frames
    codebook: int = 0  # fine only
    ragged: bool = False  # causal graphs: rows of different lengths (prefill) or pasts (decode)
    decode: bool = False  # causal graphs: one new token per row after `length` cached positions


CAUSAL = ("semantic", "causal")


def gpt_of(model, spec: GraphSpec):
    """The HF causal sub-model a semantic/coarse graph belongs to."""
    return {"semantic": model.semantic, "coarse": model.coarse_acoustics}[spec.stage]


def make_feed(model, recipe: BarkRecipe, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
    """Inputs for `spec` at the case's sizes: valid id ranges; pasts computed by the reference itself."""
    c, b = recipe.constants, case.batch
    if spec.kind in CAUSAL:
        return _causal_feed(model, recipe, spec, case, rng)
    if spec.kind == "fine":
        ids = rng.integers(0, c.codebook_size + 1, (b, case.length, recipe.fine.n_codes_total))  # 1024 = pad
        return {"input_ids": ids, "codebook_idx": np.array(case.codebook, np.int64)}
    if spec.kind == "codec":
        return {"codes": rng.integers(0, c.codebook_size, (b, recipe.codec.n_codebooks, case.length))}
    raise KeyError(f"no feed maker for graph kind {spec.kind!r}")


def _semantic_prompt(recipe: BarkRecipe, batch: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's 257-token semantic prefill: text ids + infer token, history ids + -1."""
    c = recipe.constants
    n_text = rng.integers(1, c.max_text_tokens + 1)
    text = np.full((batch, c.max_text_tokens), c.text_pad, np.int64)
    text[:, :n_text] = rng.integers(0, BERT_VOCAB, (batch, n_text)) + c.text_offset
    history = rng.integers(0, c.semantic_vocab, (batch, c.max_text_tokens)).astype(np.int64)
    history[:, rng.integers(0, c.max_text_tokens):] = c.semantic_pad
    ids = np.hstack([text, np.full((batch, 1), c.semantic_infer)])
    return ids, np.hstack([history, np.full((batch, 1), -1)])


@torch.no_grad()
def _causal_feed(model, recipe: BarkRecipe, spec: GraphSpec, case: Case, rng) -> dict:
    gpt, b = gpt_of(model, spec), case.batch
    vocab = gpt.config.input_vocab_size
    semantic = spec.kind == "semantic"
    if case.decode:
        pasts, new = row_lengths(b, case.length, case.ragged), [1] * b
        rows = [flatten_cache(gpt(input_ids=torch.from_numpy(rng.integers(0, vocab, (1, p))), use_cache=True)
                              .past_key_values) for p in pasts]
        feed = {"input_ids": rng.integers(0, gpt.config.output_vocab_size, (b, 1))}
        if semantic:
            feed["history_ids"] = np.full((b, 1), -1, np.int64)
    else:
        pasts, rows = [0] * b, []
        if semantic:
            ids, history = _semantic_prompt(recipe, b, rng)
            feed, new = {"input_ids": ids, "history_ids": history}, [ids.shape[1]] * b
        else:
            new = row_lengths(b, case.length, case.ragged)
            feed = {"input_ids": rng.integers(0, vocab, (b, max(new)))}
    capacity = capacity_for(spec, max(p + n for p, n in zip(pasts, new)))
    for i, pair in enumerate(spec.cache):  # garbage past each row's valid prefix: the graph must not read it
        feed[pair.past] = (pack([row[i][0] for row in rows], capacity, "random", rng) if rows
                           else rng.standard_normal(_cache_shape(spec, b, capacity)).astype(np.float32))
    return {**feed, **lengths_feed(spec, pasts, new)}


def _cache_shape(spec: GraphSpec, batch: int, capacity: int) -> tuple:
    past = next(t for t in spec.inputs if t.name == spec.cache[0].past)
    return (batch, past.shape[1], capacity, past.shape[3])


@torch.no_grad()
def reference_outputs(model, recipe: BarkRecipe, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """transformers' outputs for `feed`, keyed by the graph's output names."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()}
    if spec.kind in CAUSAL:
        return _causal_reference(model, recipe, spec, feed)
    if spec.kind == "fine":
        outs = [model.fine_acoustics(int(t["codebook_idx"]), t["input_ids"]).logits]
    elif spec.kind == "codec":
        outs = [model.codec_decode(t["codes"]).reshape(t["codes"].shape[0], 1, -1)]
    else:
        raise KeyError(f"no reference for graph kind {spec.kind!r}")
    return {name: o.numpy() for name, o in zip(spec.output_names, outs)}


def _causal_reference(model, recipe: BarkRecipe, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """Each row alone through transformers (its own past, its real tokens); caches NaN past each row's end."""
    gpt, c = gpt_of(model, spec), recipe.constants
    cached, new = feed[spec.lengths.cached], feed[spec.lengths.new]
    logits, presents = [], []
    for b in range(len(cached)):
        p, n = int(cached[b]), int(new[b])
        ids = torch.from_numpy(np.asarray(feed["input_ids"][b: b + 1, :n]))
        past = tuple(torch.from_numpy(feed[pair.past][b: b + 1, :, :p].copy()) for pair in spec.cache)
        cache = build_cache(past) if p else None
        if spec.kind == "semantic":  # BarkSemanticModel.generate's merge: history embeddings added where given
            history = torch.from_numpy(np.asarray(feed["history_ids"][b: b + 1, :n]))
            out = gpt(inputs_embeds=history_merge(gpt, ids, history), past_key_values=cache, use_cache=True)
        else:
            out = gpt(input_ids=ids, past_key_values=cache, use_cache=True)
        logits.append(out.logits[0, -1].numpy())
        presents.append([t[0] for t in flatten_cache(out.past_key_values)])
    capacity = feed[spec.cache[0].past].shape[2]
    result = {spec.output_names[0]: np.stack(logits)}
    for i, pair in enumerate(spec.cache):
        result[pair.present] = pack([row[i] for row in presents], capacity, "nan")
    return result


def history_merge(semantic, ids, history) -> torch.Tensor:
    """emb(ids) + emb(history) where history >= 0 (the prefill's text + history merge; -1 adds nothing).

    On the prefill's layout (256 text positions with history, then the infer token) this is
    semantic_prefill_embeds, BarkSemanticModel.generate's merge (tests/recipes/bark/test_reference.py).
    """
    embed = semantic.input_embeds_layer
    added = torch.where((history >= 0).unsqueeze(-1), embed(history.clamp(min=0)), torch.zeros(()))
    return embed(ids) + added


def example_case(spec: GraphSpec) -> Case:
    """Sizes used to trace a graph for export: batch 2, lengths > 1, rows of different lengths."""
    length = {"causal": 5, "fine": 16, "codec": 16}.get(spec.kind, 0)
    return Case("export", batch=2, length=length, codebook=2, ragged=True)


def parity_cases(recipe: BarkRecipe, spec: GraphSpec) -> list[Case]:
    """Cases per graph: batch 1 and >1, ragged rows, small and near-limit pasts; every fine codebook."""
    c, block = recipe.constants, recipe.semantic.block_size
    window = c.coarse_prompt_tokens  # longest coarse prefill the reference runs
    decode = [Case("decode batch=1 past=1", 1, 1, decode=True),
              Case("decode batch=3 pasts=9,7,5 (ragged)", 3, 9, ragged=True, decode=True),
              Case("decode batch=1 past=257", 1, 257, decode=True),
              Case(f"decode batch=2 past={block - 1} (limit)", 2, block - 1, decode=True)]
    cases = {
        "semantic": [Case("prefill batch=1 T=257", 1, 257), Case("prefill batch=3 T=257", 3, 257)] + decode,
        "causal": [Case("prefill batch=1 T=1", 1, 1), Case("prefill batch=3 T=37,28,19 (ragged)", 3, 37, ragged=True),
                   Case(f"prefill batch=1 T={window} (window)", 1, window), Case(f"prefill batch=2 T={block}", 2, block)]
        + decode,
        "fine": [Case(f"batch=1 codebook={k}", 1, c.fine_window, k)
                 for k in range(recipe.fine.n_codes_given, recipe.fine.n_codes_total)]
        + [Case("batch=2 codebook=2 frames=100", 2, 100, 2)],
        "codec": [Case("batch=1 frames=75", 1, 75), Case(f"batch=2 frames={MIN_CODEC_FRAMES} (min)", 2, MIN_CODEC_FRAMES),
                  Case("batch=1 frames=1024", 1, c.fine_window)],
    }
    return cases[spec.kind]
