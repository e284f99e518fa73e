"""ToyFamily: what generic code asks of the toy family beyond its graphs."""
from __future__ import annotations

import time

from ttsx.recipes.family import Family


class ToyFamily(Family):
    """A GPT-2 over bytes writing audio codes, and a vocoder: random weights only."""

    name = "toy"

    def load_reference(self, recipe, source):
        from .model import load_reference

        return load_reference(recipe, source)

    def source_hint(self) -> str:
        return "The toy family has random weights only: pass --random-weights."

    def open_pipeline(self, artifact, sessions: dict):
        from .pipeline import ToyPipeline

        return ToyPipeline(artifact, sessions)

    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """transformers' GPT2LMHeadModel.generate, greedy, EOS suppressed, then the vocoder."""
        import torch

        from .recipe import EOS, FIRST_CODE, SAMPLE_RATE, SPEAK

        prompts = [list(t.encode("utf-8")) + [SPEAK] for t in texts]
        width = max(map(len, prompts))  # left-padded for generate, with the mask saying so
        ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])

        @torch.no_grad()
        def run():
            start = time.perf_counter()
            out = model.lm.generate(ids, attention_mask=mask, do_sample=False, max_new_tokens=tokens,
                                    min_new_tokens=tokens, bad_words_ids=[[EOS]], pad_token_id=0)
            lm = time.perf_counter() - start
            codes = (out[:, width:] - FIRST_CODE).clamp(min=0)
            start = time.perf_counter()
            audio = model.vocoder(codes)
            return {"lm": lm, "vocoder": time.perf_counter() - start}, audio.numel() / SAMPLE_RATE, {"lm": codes.shape[1]}

        return run


FAMILY = ToyFamily()
