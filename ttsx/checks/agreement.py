"""End-to-end greedy agreement: the artifact's pipeline against the fp32 PyTorch reference pipeline.

Both run the family's greedy setting on the same fixed prompts; per stage (the family's own stage
names) two figures:
- free-running: the share of identical tokens and the first step where any prompt diverges. Once a
  greedy sequence diverges its later tokens differ by construction (and every later stage sees other
  inputs), so for a reduced precision one near-tie decides the figure: it is chaotic, not a measure.
- teacher-forced: the artifact's pipeline is fed the reference's tokens at every step of every stage
  (runtimes.forcing), and each of its next-token choices is compared with the reference's. A flipped
  near-tie costs one choice. This is the end-to-end gate of reduced precisions; fp32 must still make
  identical free-running tokens.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttsx.base.progress import Progress, silent
from ttsx.artifact.manifest import Artifact

AGREEMENT_TOKENS = 32  # first-stage tokens per prompt (random weights rarely emit EOS)


@dataclass(frozen=True)
class StageAgreement:
    """One stage of one greedy run: the artifact's pipeline against the fp32 PyTorch reference's."""

    run: str  # the family's run label
    stage: str
    free_share: float  # share of identical tokens when both run freely
    first_divergence: int | None  # first step where any prompt's free-running tokens differ
    forced_share: float | None = None  # share of our choices equal to the reference's, fed the reference's tokens
    forced_choices: int = 0  # token choices compared under teacher forcing


def greedy_agreement(artifact: Artifact, model, backend: str, progress: Progress = silent,
                     prompts: tuple[str, ...] | None = None, tokens: int = AGREEMENT_TOKENS,
                     teacher_forced: bool = True, **session_options) -> list[StageAgreement]:
    """Per run and stage: free-running agreement, and (teacher_forced) the share of our next-token choices that
    equal the reference's when every stage is fed the reference's own tokens (runtimes.forcing).

    The family says which runs to make (`Family.agreement_runs`): a family whose later stage reads
    an earlier stage's output as text judges that stage on a fixed input in a run of its own.
    """
    from ttsx.recipes import get_family
    from ttsx.runtimes import forcing
    from ttsx.runtimes.factory import open_pipeline
    from ttsx.runtimes.pipeline import SynthesisOptions

    family = get_family(artifact.recipe.family)
    prompts = prompts or family.agreement_prompts()  # held out from its calibration prompts
    results = []
    for run in family.agreement_runs(artifact.recipe, tokens, len(prompts)):
        options = run.options or SynthesisOptions(greedy=True, max_tokens=tokens, batch_size=len(prompts))
        progress(f"end to end ({run.label}): fp32 PyTorch reference, {len(prompts)} prompts, greedy")
        with open_pipeline(artifact, "torch", reference_model=model) as pipeline, forcing.record() as recorded:
            ref = pipeline(list(prompts), options=options)
        reference = model if backend.startswith("torch") else None
        with open_pipeline(artifact, backend, reference, **session_options) as pipeline:
            progress(f"end to end ({run.label}): {artifact.precision} artifact on {backend}, free-running")
            ours = pipeline(list(prompts), options=options)
            forced = {}
            if teacher_forced:
                progress(f"end to end ({run.label}): {artifact.precision} artifact on {backend}, teacher-forced")
                with forcing.force(recorded.choices) as forcer:
                    pipeline(list(prompts), options=options)
                forced = forcer.shares()
        for stage in run.stages or tuple(ref.tokens):
            share, first = token_agreement(ours.tokens.get(stage, []), ref.tokens[stage])
            forced_share, choices = forced.get(stage, (None, 0))
            results.append(StageAgreement(run.label, stage, share, first, forced_share, choices))
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
