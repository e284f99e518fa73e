"""`ttsx parity`: every graph of an artifact against transformers' PyTorch reference, per case."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ttsx.artifact import Artifact, load_artifact
from ttsx.errors import ArtifactError
from ttsx.recipes.bark import MIN_CODEC_FRAMES, BarkRecipe
from ttsx.recipes.precision import Budget
from ttsx.recipes.spec import GraphSpec

CASE_SEED = 1234  # parity feeds are seeded: CASE_SEED + case index


@dataclass(frozen=True)
class ParityRow:
    """One compared output (or output group, like present.*) of one case, under one metric."""

    graph: str
    case: str
    output: str
    metric: str  # "max abs diff" (fp32), "rel L2", "top-1 agree" or "tokens agree" (reduced precisions)
    value: float
    bound: str  # the tolerance or budget the value was held to
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


def compare(graph: str, case: str, spec: GraphSpec, got: dict, ref: dict, budget: Budget | None = None
            ) -> list[ParityRow]:
    """Rows per output (present.* as one row, its worst): element-wise tolerance, or rel L2 under a budget."""
    groups: dict[str, list[str]] = {}
    for name in spec.output_names:
        groups.setdefault("present.*" if name.startswith("present.") else name, []).append(name)
    rows = []
    for label, names in groups.items():
        pairs = [(np.asarray(got[n], np.float64), np.asarray(ref[n], np.float64)) for n in names]
        if any(a.shape != b.shape for a, b in pairs):
            rows.append(ParityRow(graph, case, label, "shape", float("inf"), "equal shapes", False))
        elif budget is None:
            worst = max(float(np.abs(a - b).max(initial=0.0)) for a, b in pairs)
            passed = all(np.all(np.abs(a - b) <= spec.tolerance.atol + spec.tolerance.rtol * np.abs(b)) for a, b in pairs)
            rows.append(ParityRow(graph, case, label, "max abs diff", worst, str(spec.tolerance), bool(passed)))
        else:
            worst = max(relative_error(a, b) for a, b in pairs)
            rows.append(ParityRow(graph, case, label, "rel L2", worst, f"<= {budget.rel_error:g}",
                                  worst <= budget.rel_error))
    return rows


def relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """||ours - ref||_2 / ||ref||_2 (0 when both are zero)."""
    scale = float(np.linalg.norm(ref))
    return float(np.linalg.norm(ours - ref)) / scale if scale else float(np.linalg.norm(ours))


def top1_row(graph: str, agree: list[np.ndarray], budget: Budget) -> ParityRow:
    """Pooled share of logits rows (all cases of a graph) whose argmax equals the reference's."""
    share = float(np.concatenate(agree).mean())
    return ParityRow(graph, "all cases", "logits", "top-1 agree", share, f">= {budget.top1:g}", share >= budget.top1)


def run_parity(artifact_dir: str | Path, backend: str = "onnxruntime", model_dir: str | None = None,
               graphs: tuple[str, ...] = (), progress: Callable[[str], None] = lambda m: None,
               end_to_end: bool = True, **session_options) -> list[ParityRow]:
    """Compare the chosen graphs (all by default) with the fp32 reference; optionally greedy end to end.

    fp32 is held to the element-wise tolerance, reduced precisions to the recipe's budget; the
    precision is the backend's (a tensorrt engine directory records its own). `session_options`
    go to the backend (e.g. `engines=` for tensorrt).
    """
    from ttsx.runtimes.factory import backend_precision, open_session

    artifact = load_artifact(artifact_dir)
    recipe = artifact.recipe
    precision = backend_precision(artifact, backend, session_options.get("engines"))
    budget = None if precision == "fp32" else recipe.budget(precision)
    progress(f"rebuilding the PyTorch reference for {recipe.name} ({precision} on {backend})")
    model = reference_model(artifact, model_dir)
    rows = []
    for name in graphs or artifact.graph_names:
        with open_session(artifact, name, backend, reference_model=model, **session_options) as session:
            rows += _graph_rows(session, model, recipe, budget, progress)
    if end_to_end and not graphs and backend != "torch":  # the whole pipeline needs every graph
        from .agreement import greedy_agreement

        rows += greedy_agreement(artifact, model, backend, recipe.budget(precision), progress, **session_options)
    return rows


def _graph_rows(session, model, recipe: BarkRecipe, budget: Budget | None, progress) -> list[ParityRow]:
    """Every parity case of one graph on one session, plus the pooled top-1 row under a budget."""
    from ttsx.exporter.reference import make_feed, reference_outputs

    spec, rows, agree = session.spec, [], []
    for i, case in enumerate(parity_cases(recipe, spec)):
        progress(f"{spec.name}: {case.label}")
        feed = make_feed(model, recipe, spec, case, np.random.default_rng(CASE_SEED + i))
        got, ref = session.run(_cast_feed(feed, spec)), reference_outputs(model, recipe, spec, feed)
        rows += compare(spec.name, case.label, spec, got, ref, budget)
        if "logits" in ref:
            agree.append((got["logits"].argmax(-1) == ref["logits"].argmax(-1)).ravel())
    if budget is not None and agree:
        rows.append(top1_row(spec.name, agree, budget))
    return rows


def _cast_feed(feed: dict, spec: GraphSpec) -> dict:
    """The reference's float32 feed in the graph's input dtypes (fp16 KV caches)."""
    return {t.name: np.asarray(feed[t.name]).astype(t.dtype, copy=False) for t in spec.inputs}


def format_table(rows: list[ParityRow]) -> str:
    """A plain-text table: graph, case, output, metric, value, bound, pass."""
    header = ("graph", "case", "output", "metric", "value", "bound", "pass")
    lines = [(r.graph, r.case, r.output, r.metric, f"{r.value:.3e}", r.bound, "PASS" if r.passed else "FAIL")
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines])
