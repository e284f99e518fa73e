"""End-to-end greedy agreement: the artifact's pipeline against the fp32 PyTorch reference pipeline.

Both run `GenerationOptions.greedy` on the same fixed prompts; per stage we report the share of
identical tokens and the first step where any prompt diverges. Once a greedy sequence diverges its
later tokens differ by construction, so the share also bounds how early a divergence may come.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ttsx.artifact import Artifact
from ttsx.recipes.precision import Budget

# Held out from the calibration prompts (ttsx.exporter.calibration), so int8-qdq is not judged on
# the texts it was calibrated with.
AGREEMENT_PROMPTS = ("Good evening, and welcome to the late news.", "Can you hear the music? [music]")
AGREEMENT_TOKENS = 32  # semantic tokens per prompt (0.64 s of audio; random weights never emit EOS)
STAGES = ("semantic", "coarse", "fine")


def greedy_agreement(artifact: Artifact, model, backend: str, budget: Budget,
                     progress: Callable[[str], None] = lambda m: None,
                     prompts: tuple[str, ...] = AGREEMENT_PROMPTS, tokens: int = AGREEMENT_TOKENS,
                     **session_options) -> list:
    """Rows "tokens agree" per stage: artifact on `backend` vs the torch reference, greedy."""
    from ttsx.parity import ParityRow
    from ttsx.runtimes.bark_pipeline import BarkPipeline, GenerationOptions

    options = GenerationOptions.greedy(tokens, batch_size=len(prompts))
    progress(f"end to end: fp32 PyTorch reference, {len(prompts)} prompts, {tokens} semantic tokens, greedy")
    with BarkPipeline(artifact, "torch", reference_model=model) as pipeline:
        ref = pipeline(list(prompts), options=options)
    progress(f"end to end: {artifact.precision} artifact on {backend}")
    with BarkPipeline(artifact, backend, **session_options) as pipeline:
        ours = pipeline(list(prompts), options=options)
    rows = []
    for stage in STAGES:
        share, first = token_agreement(getattr(ours, stage), getattr(ref, stage))
        case = f"{len(prompts)} prompts, greedy, first divergence: {'none' if first is None else f'step {first}'}"
        rows.append(ParityRow("end to end", case, f"{stage} tokens", "tokens agree", share,
                              f">= {budget.tokens:g}", share >= budget.tokens))
    return rows


def token_agreement(ours: list[np.ndarray], ref: list[np.ndarray]) -> tuple[float, int | None]:
    """Share of reference token positions matched, and the first diverging step (None if identical).

    Arrays are [T] (semantic) or [codebooks, T] (coarse, fine); steps count along T.
    """
    matched = total = 0
    diverged = []  # first differing step per sequence that differs
    for a, b in zip(ours, ref):
        a, b = np.atleast_2d(a), np.atleast_2d(b)
        n = min(a.shape[-1], b.shape[-1])
        same = (a[:, :n] == b[:, :n]).all(axis=0)
        matched += int((a[:, :n] == b[:, :n]).sum())
        total += b.size
        if not same.all():
            diverged.append(int(np.argmin(same)))
        elif a.shape[-1] != b.shape[-1]:
            diverged.append(n)
    return (matched / total if total else 1.0), min(diverged, default=None)
