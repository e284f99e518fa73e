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

import functools
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

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
        ref_tokens, ref_choices = reference_run(artifact, model, run.label, options, prompts, progress)
        reference = model if backend.startswith("torch") else None
        with open_pipeline(artifact, backend, reference, **session_options) as pipeline:
            progress(f"end to end ({run.label}): {artifact.precision} artifact on {backend}, free-running")
            ours = pipeline(list(prompts), options=options)
            forced = {}
            if teacher_forced:
                progress(f"end to end ({run.label}): {artifact.precision} artifact on {backend}, teacher-forced")
                with forcing.force(ref_choices) as forcer:
                    pipeline(list(prompts), options=options)
                forced = forcer.shares()
        for stage in run.stages or tuple(ref_tokens):
            share, first = token_agreement(ours.tokens.get(stage, []), ref_tokens[stage])
            forced_share, choices = forced.get(stage, (None, 0))
            results.append(StageAgreement(run.label, stage, share, first, forced_share, choices))
    return results


def reference_run(artifact: Artifact, model, label: str, options, prompts: tuple[str, ...], progress: Progress):
    """The fp32 PyTorch reference pipeline's greedy run: (tokens per stage, every recorded choice per stage).

    Kept in the parity cache (`cache_dir()`), keyed by what decides it: the reference's weights (the manifest's
    sha256, which parity checks the rebuilt reference against), the recipe, the run's options and prompts, and
    the source of ttsx's runtimes and of the family's package. An artifact's other precisions (`ttsx parity` of
    its int8 after its fp32) then reuse it instead of running the reference again. TTSX_PARITY_CACHE=off turns
    it off."""
    from ttsx.runtimes import forcing
    from ttsx.runtimes.factory import open_pipeline

    path = _cache_path(artifact, label, options, prompts)
    if path is not None and path.is_file():
        try:
            found = _read(path)
        except (OSError, ValueError, KeyError):
            found = None  # damaged or from another layout: made again below
        if found is not None:
            progress(f"end to end ({label}): the fp32 PyTorch reference's tokens from the parity cache ({path})")
            return found
    progress(f"end to end ({label}): fp32 PyTorch reference, {len(prompts)} prompts, greedy")
    with open_pipeline(artifact, "torch", reference_model=model) as pipeline, forcing.record() as recorded:
        ref = pipeline(list(prompts), options=options)
    tokens = {stage: [np.asarray(t) for t in seqs] for stage, seqs in ref.tokens.items()}
    if path is not None:
        _write(path, tokens, recorded.choices)
    return tokens, recorded.choices


def cache_dir() -> Path:
    """Where parity keeps what it may reuse: TTSX_CACHE_DIR, else ~/.cache/ttsx."""
    return Path(os.environ.get("TTSX_CACHE_DIR") or Path.home() / ".cache" / "ttsx")


def _cache_path(artifact: Artifact, label: str, options, prompts) -> Path | None:
    weights = artifact.manifest.get("source", {}).get("weights_sha256")
    if os.environ.get("TTSX_PARITY_CACHE", "").lower() in ("off", "0", "no") or not weights:
        return None
    key = hashlib.sha256(json.dumps([weights, artifact.recipe.name, label, repr(options), list(prompts),
                                     _code_hash(artifact)]).encode()).hexdigest()[:32]
    return cache_dir() / "parity" / f"reference-run-{key}.npz"


@functools.lru_cache(maxsize=None)
def _source_hash(folder: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _code_hash(artifact: Artifact) -> str:
    """The source of ttsx's runtimes and of the family's package: a changed pipeline makes other tokens."""
    import ttsx.runtimes
    from ttsx.recipes import get_family

    family = Path(sys.modules[type(get_family(artifact.recipe.family)).__module__].__file__).parent
    return _source_hash(str(Path(ttsx.runtimes.__file__).parent)) + _source_hash(str(family))


def _write(path: Path, tokens: dict, choices: dict) -> None:
    """tokens/<stage>/<i> and choices/<stage>/<i> arrays, written whole or not at all."""
    arrays = {f"tokens/{stage}/{i}": a for stage, seqs in tokens.items() for i, a in enumerate(seqs)}
    arrays["order"] = np.asarray(list(tokens) + list(choices), dtype=str)  # the stages in pipeline order
    arrays.update({f"choices/{stage}/{i}": np.asarray(a) for stage, seqs in choices.items() for i, a in enumerate(seqs)})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        with open(partial, "wb") as f:
            np.savez(f, **arrays)
        os.replace(partial, path)
    except OSError:
        pass  # a cache that can't be written is a cache not kept


def _read(path: Path) -> tuple[dict, dict]:
    tokens: dict[str, list] = {}
    choices: dict[str, list] = {}
    with np.load(path, allow_pickle=False) as data:
        order: dict[str, int] = {}
        for k, stage in enumerate(data["order"].tolist()):
            order.setdefault(stage, k)
        names = [n for n in data.files if n != "order"]
        for name in sorted(names, key=lambda n: (n.split("/")[0], order[n.split("/")[1]], int(n.rsplit("/", 1)[1]))):
            kind, stage, _ = name.split("/")
            (tokens if kind == "tokens" else choices).setdefault(stage, []).append(data[name])
    return tokens, choices


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
