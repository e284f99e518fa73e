"""`ttsx parity`: every graph of an artifact against transformers' PyTorch reference, per case."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ttsx.artifact import Artifact, load_artifact
from ttsx.errors import ArtifactError
from ttsx.recipes.bark import MIN_CODEC_FRAMES, BarkRecipe
from ttsx.recipes.spec import GraphSpec, Tolerance

CASE_SEED = 1234  # parity feeds are seeded: CASE_SEED + case index


@dataclass(frozen=True)
class ParityRow:
    """One compared output (or output group, like present.*) of one case."""

    graph: str
    case: str
    output: str
    max_abs_diff: float
    tolerance: Tolerance
    passed: bool


def parity_cases(recipe: BarkRecipe, spec: GraphSpec):
    """Cases per graph: batch 1 and >1; empty, small and near-limit pasts; every fine codebook."""
    from ttsx.exporter.reference import Case

    c, block = recipe.constants, recipe.semantic.block_size
    window = c.max_coarse_input + 1 + c.max_coarse_history  # longest coarse prefill the reference runs
    cases = {
        "semantic_prefill": [Case("batch=1 past=0", 1, 0), Case("batch=3 past=0", 3, 0)],
        "causal_prefill": [Case("batch=1 T=1", 1, 1), Case("batch=3 T=37", 3, 37),
                           Case(f"batch=1 T={window} (window)", 1, window), Case(f"batch=2 T={block}", 2, block)],
        "causal_decode": [Case("batch=1 past=1", 1, 1), Case("batch=3 past=9", 3, 9),
                          Case("batch=1 past=257", 1, 257), Case(f"batch=2 past={block - 1} (limit)", 2, block - 1)],
        "fine": [Case(f"batch=1 codebook={k}", 1, c.fine_window, k)
                 for k in range(recipe.fine.n_codes_given, recipe.fine.n_codes_total)]
        + [Case("batch=2 codebook=2 frames=100", 2, 100, 2)],
        "codec": [Case("batch=1 frames=75", 1, 75), Case(f"batch=2 frames={MIN_CODEC_FRAMES} (min)", 2, MIN_CODEC_FRAMES),
                  Case("batch=1 frames=1024", 1, recipe.constants.fine_window)],
    }
    return cases[spec.kind]


def reference_model(artifact: Artifact, model_dir: str | None = None):
    """Rebuild the exact reference the artifact was exported from, checked by weights sha256."""
    from ttsx.exporter.sources import ModelSource, load_reference, weights_fingerprint

    source = artifact.manifest["source"]
    if source["kind"] == "random":
        spec = ModelSource("random", seed=source["seed"])
    else:
        location = model_dir or source["location"]
        spec = ModelSource("checkpoint" if Path(location).exists() else "hub", location=location)
    model = load_reference(artifact.recipe, spec)
    if weights_fingerprint(model) != source["weights_sha256"]:
        raise ArtifactError(f"the reference weights rebuilt from {spec} differ from those exported into "
                            f"{artifact.root}; pass --model with the exported checkpoint (or re-export with "
                            "this torch/transformers version)")
    return model


def compare(graph: str, case: str, spec: GraphSpec, got: dict, ref: dict) -> list[ParityRow]:
    """Rows for each output; present.* tensors are reported as one row (their worst)."""
    groups: dict[str, list[str]] = {}
    for name in spec.output_names:
        groups.setdefault("present.*" if name.startswith("present.") else name, []).append(name)
    rows = []
    for label, names in groups.items():
        worst, passed = 0.0, True
        for name in names:
            a, b = np.asarray(got[name], np.float64), np.asarray(ref[name], np.float64)
            if a.shape != b.shape:
                worst, passed = float("inf"), False
                continue
            diff = np.abs(a - b)
            worst = max(worst, float(diff.max(initial=0.0)))
            passed &= bool(np.all(diff <= spec.tolerance.atol + spec.tolerance.rtol * np.abs(b)))
        rows.append(ParityRow(graph, case, label, worst, spec.tolerance, passed))
    return rows


def run_parity(artifact_dir: str | Path, backend: str = "onnxruntime", model_dir: str | None = None,
               graphs: tuple[str, ...] = (), progress: Callable[[str], None] = lambda m: None) -> list[ParityRow]:
    """Compare the chosen graphs (all by default) with the reference; one row per output per case."""
    from ttsx.exporter.reference import make_feed, reference_outputs
    from ttsx.runtimes.factory import open_session

    artifact = load_artifact(artifact_dir)
    recipe = artifact.recipe
    progress(f"rebuilding the PyTorch reference for {recipe.name}")
    model = reference_model(artifact, model_dir)
    rows = []
    for name in graphs or artifact.graph_names:
        spec = artifact.graph_spec(name)
        with open_session(artifact, name, backend, reference_model=model) as session:
            for i, case in enumerate(parity_cases(recipe, spec)):
                progress(f"{name}: {case.label}")
                feed = make_feed(model, recipe, spec, case, np.random.default_rng(CASE_SEED + i))
                rows += compare(name, case.label, spec, session.run(feed), reference_outputs(model, recipe, spec, feed))
    return rows


def format_table(rows: list[ParityRow]) -> str:
    """A plain-text table: graph, case, output, max abs diff, tolerance, pass."""
    header = ("graph", "case", "output", "max abs diff", "tolerance", "pass")
    lines = [(r.graph, r.case, r.output, f"{r.max_abs_diff:.3e}", str(r.tolerance), "PASS" if r.passed else "FAIL")
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines])
