"""Parler-TTS's baselines for `ttsx bench`: parler_tts's own generate, eager and on its static-cache +
torch.compile path, timed.

As Parler's examples call it: the batch's descriptions (the artifact's first preset) and transcripts
tokenized and right-padded with their masks, do_sample=False, max_new_tokens = the workload's tokens,
`suppress_tokens` = EOS and the ids past the codebook (1024..1087), so every row runs to the length and
every frame is audio, as ttsx's bench mode does. Stage times: the codec's decode calls ("dac") and the
rest of generate ("decoder"). The compiled path is Parler's INFERENCE.md recipe on a copy of the model:
`generation_config.cache_implementation = "static"`, `model.forward = torch.compile(model.forward)`,
warmed up by the bench's first call; parler-tts 0.2.3 fails a second static generate on one model
(its cached StaticCache lacks `max_batch_size`), so each call drops `model._cache` first.
"""
from __future__ import annotations

import copy
import time

import numpy as np


def _inputs(artifact, texts: list[str]) -> dict:
    import torch

    from .voices import T5Text, read_description

    recipe = artifact.recipe
    tokenizer = artifact.manifest.get("tokenizer")
    text = T5Text(artifact.directory(tokenizer) if tokenizer else None, recipe.t5.vocab)
    voices = artifact.manifest.get("voices", {})
    description = read_description(artifact.file(voices[sorted(voices)[0]]))

    def padded(rows):
        width = max(map(len, rows))
        ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
        return ids, (torch.arange(width)[None] < torch.tensor([len(r) for r in rows])[:, None]).long()

    desc, desc_mask = padded([text.encode(description)] * len(texts))
    prompt, prompt_mask = padded([text.encode(t) for t in texts])
    return {"input_ids": desc, "attention_mask": desc_mask, "prompt_input_ids": prompt,
            "prompt_attention_mask": prompt_mask}


def _runner(model, artifact, texts: list[str], tokens: int, static: bool):
    import torch

    recipe = artifact.recipe
    inputs = _inputs(artifact, texts)
    suppressed = list(range(recipe.decoder.eos, recipe.decoder.vocab))

    def run():
        codec, decode = [0.0], model.audio_encoder.decode

        def timed_decode(*args, **kwargs):
            start = time.perf_counter()
            try:
                return decode(*args, **kwargs)
            finally:
                codec[0] += time.perf_counter() - start

        model.audio_encoder.decode = timed_decode
        if static and hasattr(model, "_cache"):
            del model._cache
        try:
            start = time.perf_counter()
            with torch.no_grad():
                out = model.generate(**inputs, do_sample=False, max_new_tokens=tokens, suppress_tokens=suppressed,
                                     return_dict_in_generate=True)
            total = time.perf_counter() - start
        finally:
            model.audio_encoder.decode = decode
        samples = int(np.sum(out.audios_length)) if hasattr(out, "audios_length") and out.audios_length else \
            int(np.prod(out.sequences.shape))
        return {"decoder": total - codec[0], "dac": codec[0]}, samples / recipe.limits.sample_rate, {"decoder": tokens}

    return run


def eager_generate(model, artifact, texts: list[str], tokens: int):
    """parler_tts's generate, eager (its default dynamic cache)."""
    return _runner(model, artifact, texts, tokens, static=False)


def compiled_baselines(model, artifact, texts: list[str], tokens: int) -> dict:
    """{"parler static cache + torch.compile": make}: Parler's own compiled path on a copy of `model`."""
    import torch

    def make():
        compiled = copy.deepcopy(model)
        compiled.generation_config.cache_implementation = "static"
        compiled.forward = torch.compile(compiled.forward)
        return _runner(compiled, artifact, texts, tokens, static=True)

    return {"parler static cache + torch.compile": make}
