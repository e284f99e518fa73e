"""End-to-end greedy agreement: the artifact's pipeline against the fp32 PyTorch reference pipeline.

Both run the family's greedy setting on the same fixed prompts; per stage (the family's own stage
names) we report the share of identical tokens and the first step where any prompt diverges. Once
a greedy sequence diverges its later tokens differ by construction, so the share also bounds how
early a divergence may come.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ttsx.artifact import Artifact

# Held out from the calibration prompts (ttsx.exporter.calibration), so int8-qdq is not judged on
# the texts it was calibrated with.
AGREEMENT_PROMPTS = ("Good evening, and welcome to the late news.", "Can you hear the music? [music]")
AGREEMENT_TOKENS = 32  # first-stage tokens per prompt (random weights rarely emit EOS)


def greedy_agreement(artifact: Artifact, model, backend: str, progress: Callable[[str], None] = lambda m: None,
                     prompts: tuple[str, ...] = AGREEMENT_PROMPTS, tokens: int = AGREEMENT_TOKENS,
                     **session_options) -> list[tuple[str, str, float, int | None]]:
    """(run, stage, share of identical tokens, first divergence): artifact on `backend` vs torch, greedy.

    The family says which runs to make (`Family.agreement_runs`): a family whose later stage reads
    an earlier stage's output as text judges that stage on a fixed input in a run of its own.
    """
    from ttsx.recipes import get_family
    from ttsx.runtimes.factory import open_pipeline
    from ttsx.runtimes.pipeline import SynthesisOptions

    results = []
    for run in get_family(artifact.recipe.family).agreement_runs(artifact.recipe, tokens, len(prompts)):
        options = run.options or SynthesisOptions(greedy=True, max_tokens=tokens, batch_size=len(prompts))
        progress(f"end to end ({run.label}): fp32 PyTorch reference, {len(prompts)} prompts, greedy")
        with open_pipeline(artifact, "torch", reference_model=model) as pipeline:
            ref = pipeline(list(prompts), options=options)
        progress(f"end to end ({run.label}): {artifact.precision} artifact on {backend}")
        reference = model if backend.startswith("torch") else None
        with open_pipeline(artifact, backend, reference, **session_options) as pipeline:
            ours = pipeline(list(prompts), options=options)
        for stage in run.stages or tuple(ref.tokens):
            results.append((run.label, stage, *token_agreement(ours.tokens.get(stage, []), ref.tokens[stage])))
    return results


def token_agreement(ours: list[np.ndarray], ref: list[np.ndarray]) -> tuple[float, int | None]:
    """Share of reference token positions matched, and the first diverging step (None if identical).

    Arrays are [T] or [codebooks, T]; steps count along the last axis T.
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
    total += sum(b.size for b in ref[len(ours):])  # sequences we did not make count as unmatched
    return (matched / total if total else 1.0), min(diverged, default=None)
