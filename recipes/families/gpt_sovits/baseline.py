"""GPT-SoVITS's eager baseline for `ttsx bench`: upstream's infer_panel and SynthesizerTrn.decode, timed.

As the web UI calls them (inference_webui.get_tts_wav): the voice's prompt phonemes before the text's,
zero BERT features, the prompt ids, top_k 1 (greedy), then decode(ids, the text's phonemes, [refer]).
EOS is masked and infer_panel's own early stop (`early_stop_num`) ends it after `tokens` steps, keeping
tokens - 1 ids as ttsx's cap does (ttsx bench fixes the length). Its tqdm bar and prints are silenced.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout

import numpy as np


def eager_infer(ref, artifact, texts: list[str], tokens: int):
    """A callable running infer_panel + decode on each text with the artifact's first voice; (seconds per
    stage, seconds of audio, steps per stage)."""
    import torch

    from ttsx.runtimes.pipeline import check_texts

    from .phonemes import Phonemizer
    from .voices import load_voice

    recipe = artifact.recipe
    phonemizer = Phonemizer(artifact.directory(artifact.manifest["tokenizer"]))
    voices = artifact.manifest.get("voices", {})
    voice = load_voice(recipe, artifact.file(voices[sorted(voices)[0]]))
    texts = check_texts(texts, recipe.limits.max_text_chars)
    t2s = ref.t2s
    eos = recipe.t2s.eos

    def run():
        seconds = {"t2s": 0.0, "vits": 0.0}
        samples = 0
        for text in texts:
            phones = np.asarray(phonemizer.encode(text), np.int64)
            all_ids = torch.from_numpy(np.concatenate([voice.prompt_phonemes, phones]))[None]
            bert = torch.zeros(1, recipe.t2s.bert_dim, all_ids.shape[1])
            prompt = torch.from_numpy(voice.prompt_ids)[None]
            start = time.perf_counter()
            with torch.no_grad(), _eos_masked(t2s, eos, tokens), _silent():
                y, idx = t2s.infer_panel(all_ids, torch.tensor([all_ids.shape[1]]), prompt, bert, top_k=1,
                                         early_stop_num=tokens - 1)
            seconds["t2s"] += time.perf_counter() - start
            codes = y[:, -idx:].unsqueeze(0)
            start = time.perf_counter()
            sv = {"sv_emb": [torch.from_numpy(voice.sv_emb)[None]]} if voice.sv_emb is not None else {}  # v2Pro
            with torch.no_grad():
                audio = ref.vits.decode(codes, torch.from_numpy(phones)[None], [torch.from_numpy(voice.refer)[None]],
                                        **sv)
            seconds["vits"] += time.perf_counter() - start
            samples += audio.shape[-1]
        return seconds, samples / recipe.limits.sample_rate, {"t2s": tokens}

    return run


@contextmanager
def _silent():
    """Upstream's tqdm bar (stderr) and print (stdout), discarded."""
    with open(os.devnull, "w") as sink, redirect_stdout(sink), redirect_stderr(sink):
        yield


class _eos_masked:
    """Inside the block, the t2s head gives EOS -inf for the first `steps` calls after each prompt."""

    def __init__(self, t2s, eos: int, steps: int):
        self.head, self.eos, self.steps = t2s.ar_predict_layer, eos, steps

    def __enter__(self):
        calls = [0]

        def hook(module, args, output):
            calls[0] += 1
            if calls[0] <= self.steps:
                output = output.clone()
                output[..., self.eos] = float("-inf")
            return output

        self.handle = self.head.register_forward_hook(hook)

    def __exit__(self, *exc):
        self.handle.remove()
