"""Bark's eager baseline for `ttsx bench`: the four stage calls of transformers' BarkModel.generate, timed."""
from __future__ import annotations

import time

import torch

from .recipe import BarkRecipe


def eager_generate(model, recipe: BarkRecipe, tokenizer, texts: list[str], tokens: int):
    """A callable running BarkModel.generate's stages greedily with EOS suppressed (bad_words_ids).

    It returns (seconds per stage, seconds of audio, generated tokens per stage and sequence).
    """
    c = recipe.constants
    ids = torch.zeros((len(texts), c.max_text_tokens), dtype=torch.long)
    mask = torch.zeros_like(ids)
    for b, text in enumerate(texts):
        encoded = tokenizer.encode(text)[: c.max_text_tokens]
        ids[b, : len(encoded)], mask[b, : len(encoded)] = torch.tensor(encoded), 1

    @torch.no_grad()
    def run():
        return _stages(model, ids, mask, tokens, c)

    return run


def _stages(model, ids, mask, semantic_tokens: int, c) -> tuple[dict, float, dict]:
    gen, seconds = model.generation_config, {}
    configs = dict(semantic_generation_config=gen.semantic_config, coarse_generation_config=gen.coarse_acoustics_config)
    start = time.perf_counter()
    semantic = model.semantic.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=semantic_tokens,
                                       semantic_generation_config=gen.semantic_config,
                                       bad_words_ids=[[c.semantic_pad]])
    seconds["semantic"], start = time.perf_counter() - start, time.perf_counter()
    coarse = model.coarse_acoustics.generate(semantic, codebook_size=c.codebook_size, do_sample=False, **configs)
    seconds["coarse"], start = time.perf_counter() - start, time.perf_counter()
    fine = model.fine_acoustics.generate(coarse, codebook_size=c.codebook_size,
                                         fine_generation_config=gen.fine_acoustics_config, **configs)
    seconds["fine"], start = time.perf_counter() - start, time.perf_counter()
    audio = model.codec_decode(fine)
    seconds["codec"] = time.perf_counter() - start
    steps = {"semantic": semantic.shape[-1], "coarse": coarse.shape[-1]}
    return seconds, audio.numel() / c.sample_rate, steps
