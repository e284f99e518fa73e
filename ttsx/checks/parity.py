"""`ttsx parity`: every graph of an artifact against its family's PyTorch reference, per case, plus end to end.

Per graph: the family's cases (batch 1 and > 1, edge lengths), each compared with the reference
under the graph's tolerance (fp32) or the recipe's budget (reduced precisions); then a sensitivity
check: each input is changed in turn (all cache inputs together), the reference's outputs must move
by more than the tolerance, and ours must follow them. A graph whose outputs ignore an input (a
zero codebook, a dropped mask) fails there even when every plain case matches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsx.base.progress import Progress, silent
from ttsx.artifact.manifest import Artifact, load_artifact
from ttsx.runtimes.reference import reference_model

from ttsx.base.progress import counter, quiet_third_party
from ttsx.recipes import get_family
from ttsx.recipes.precision import Budget
from ttsx.recipes.spec import GraphSpec

CASE_SEED = 1234  # parity feeds are seeded: CASE_SEED + case index
PERTURB_SEED = 4321
TOP1_DRAWS = 4  # each plain case is drawn up to this many times (other seeds) for the pooled top-1 of a budget,
TOP1_ROWS = 44  # until the pool holds this many token-choice rows (why 44: docs/BENCHMARKS.md, "Quantized verdicts")
DRAW_SEED_STRIDE = 1000  # draw k of case i is seeded CASE_SEED + i + k * DRAW_SEED_STRIDE


@dataclass(frozen=True)
class ParityRow:
    """One compared output (or output group, like present.*) of one case, under one metric."""

    graph: str
    case: str
    output: str
    metric: str  # "max abs diff" (fp32), "rel L2", "top-1 agree", "tokens agree", "choices agree", "moved by"
    value: float
    bound: str  # the tolerance or budget the value was held to ("reported": not judged)
    passed: bool | None  # None: a reported figure, not a pass/fail row


def compare(graph: str, case: str, spec: GraphSpec, got: dict, ref: dict, budget: Budget | None = None
            ) -> list[ParityRow]:
    """Rows per output (cache outputs as one row, their worst): element-wise tolerance, or rel L2 under a budget.

    NaN in a reference cache output marks positions the graph may fill as it likes (an in-place cache
    past each row's end); they are not compared. Anywhere else a NaN fails the row, and so does a
    cache output with no defined position.
    """
    groups: dict[str, list[str]] = {}
    kv = set(spec.kv_outputs)
    for name in spec.output_names:
        groups.setdefault("present.*" if name in kv else name, []).append(name)
    rows = []
    for label, names in groups.items():
        pairs = [_compared(got[n], ref[n], n in kv) for n in names]
        if any(a is None for a, _ in pairs):
            rows.append(ParityRow(graph, case, label, "shape", float("inf"), "equal shapes, defined reference", False))
        elif budget is None:
            worst = max(float(np.abs(a - b).max(initial=0.0)) for a, b in pairs)
            passed = all(np.all(np.abs(a - b) <= spec.tolerance.atol + spec.tolerance.rtol * np.abs(b)) for a, b in pairs)
            rows.append(ParityRow(graph, case, label, "max abs diff", worst, str(spec.tolerance), bool(passed)))
        else:
            worst = max(relative_error(a, b) for a, b in pairs)
            rows.append(ParityRow(graph, case, label, "rel L2", worst, f"<= {budget.rel_error:g}",
                                  worst <= budget.rel_error))
    return rows


def _compared(got, ref, cache: bool) -> tuple[np.ndarray | None, np.ndarray]:
    """(ours, reference) as float64; a cache output at the reference's defined (non-NaN) positions only.

    (None, _) on a shape mismatch or a cache reference with nothing defined.
    """
    a, b = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    if a.shape != b.shape:
        return None, b
    defined = ~np.isnan(b)
    if not cache or defined.all():
        return a, b  # a NaN outside a cache compares as a failure (NaN <= tol is False; rel L2 is NaN)
    if not defined.any():
        return None, b
    return a[defined], b[defined]


def relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """||ours - ref||_2 / ||ref||_2 (0 when both are zero)."""
    scale = float(np.linalg.norm(ref))
    return float(np.linalg.norm(ours - ref)) / scale if scale else float(np.linalg.norm(ours))


def moved(spec: GraphSpec, before: dict, after: dict) -> float:
    """Largest change of any output element beyond the tolerance band around `before` (<= 0: nothing moved)."""
    tol = spec.tolerance
    worst = -np.inf
    for name in spec.output_names:
        a, b = np.asarray(before[name], np.float64), np.asarray(after[name], np.float64)
        change = np.abs(b - a) - (tol.atol + tol.rtol * np.abs(a))
        worst = max(worst, float(np.nanmax(change, initial=-np.inf)))
    return worst


def top1_draws(rows_per_draw: int) -> int:
    """How many draws of a graph's cases the pooled top-1 takes: enough for TOP1_ROWS rows, at most TOP1_DRAWS."""
    return min(TOP1_DRAWS, max(1, -(-TOP1_ROWS // max(rows_per_draw, 1))))


def top1_row(graph: str, output: str, agree: list[np.ndarray], budget: Budget, draws: int) -> ParityRow:
    """Pooled share of token-choice rows (the graph's `choices` outputs, all cases, every draw) whose argmax equals
    the reference's."""
    rows = np.concatenate(agree)
    share = float(rows.mean())
    return ParityRow(graph, f"all cases x {draws} draws ({rows.size} rows)", output, "top-1 agree", share,
                     f">= {budget.top1:g}", share >= budget.top1)


def worst_rows(graph: str, label: str, rows: list[ParityRow]) -> list[ParityRow]:
    """One row per (output, metric) of `rows`: the largest value, passing only if every row passed."""
    groups: dict[tuple[str, str], list[ParityRow]] = {}
    for row in rows:
        groups.setdefault((row.output, row.metric), []).append(row)
    return [ParityRow(graph, f"{label} (worst of {len(g)})", output, metric, max(r.value for r in g), g[0].bound,
                      all(r.passed is not False for r in g)) for (output, metric), g in groups.items()]


@quiet_third_party
def run_parity(artifact_dir: str | Path, backend: str = "onnxruntime", model_dir: str | None = None,
               graphs: tuple[str, ...] = (), progress: Progress = silent,
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
    rows, names = [], graphs or artifact.graph_names
    with counter(progress, "graphs checked", len(names)) as advance:
        for name in names:
            start = time.perf_counter()
            with open_session(artifact, name, backend, reference_model=model, **session_options) as session:
                checked = GraphCheck(session, model, artifact, budget, progress).rows()
            rows += checked
            advance(f"{name}: {len(checked)} rows, {len(failures(checked))} failed, {time.perf_counter() - start:.0f} s")
    if end_to_end and not graphs and backend != "torch":  # the whole pipeline needs every graph
        rows += _agreement_rows(artifact, model, backend, precision, progress, session_options)
    return rows


class GraphCheck:
    """Every parity case and the sensitivity check of one graph on one session."""

    def __init__(self, session, model, artifact: Artifact, budget: Budget | None, progress):
        self.session, self.model, self.recipe, self.budget = session, model, artifact.recipe, budget
        self.kind, self.spec, self.progress = self.recipe.graph_kind(session.spec.name), session.spec, progress
        self.agree: list[np.ndarray] = []

    def rows(self) -> list[ParityRow]:
        """Rows of every case, the sensitivity rows, and the pooled top-1 row under a budget."""
        spec, rows = self.spec, []
        caches = [p.past for p in spec.cache]
        pending = [[n] for n in spec.step_inputs] + ([caches] if caches else [])  # inputs still to change
        cases = self.kind.cases()
        for i, case in enumerate(cases):
            self.progress(f"{spec.name}: {case.label}")
            feed = self._feed(case, CASE_SEED + i)
            ref, case_rows = self._case(case.label, feed)
            rows += case_rows
            pending = [names for names in pending if not self._sensitivity(case.label, feed, ref, names, rows)]
        for names in pending:  # no case offered another valid value for this input: the check could not run
            rows.append(ParityRow(spec.name, "every case", names[0], "moved by", float("nan"),
                                  "a case that can change it", False))
        if self.budget is not None and self.agree:
            draws = top1_draws(sum(a.size for a in self.agree))
            drawn = []  # more rows for the pooled top-1; their rel L2 is held to the budget too (one row per output)
            for draw in range(1, draws):
                self.progress(f"{spec.name}: top-1 draw {draw + 1} of {draws}")
                for i, case in enumerate(cases):
                    drawn += self._case(case.label, self._feed(case, CASE_SEED + i + draw * DRAW_SEED_STRIDE))[1]
            rows += worst_rows(spec.name, f"every case, draws 2-{draws}", drawn)
            rows.append(top1_row(spec.name, " + ".join(spec.choices), self.agree, self.budget, draws))
        return rows

    def _feed(self, case, seed: int) -> dict:
        return self.kind.feed(self.model, self.spec, case, np.random.default_rng(seed))

    def _case(self, label: str, feed: dict, pooled: bool = True) -> tuple[dict, list[ParityRow]]:
        got = self.session.run(_cast_feed(feed, self.spec))
        ref = self.kind.reference(self.model, self.spec, feed)
        for name in self.spec.choices if pooled else ():  # top-1 pools the plain cases only (the budgets' basis)
            self.agree.append((got[name].argmax(-1) == ref[name].argmax(-1)).ravel())
        return ref, compare(self.spec.name, label, self.spec, got, ref, self.budget)

    def _sensitivity(self, label: str, feed: dict, ref: dict, names: list[str], rows: list) -> bool:
        """Change `names` (one input, or all caches at once); the reference must move and ours must follow.

        False when this case offers no other valid value for them (the next case is tried).
        """
        spec, rng = self.spec, np.random.default_rng(PERTURB_SEED)
        values = {n: self.kind.perturb(spec, n, feed, rng) for n in names}
        if any(v is None for v in values.values()):
            return False
        what = names[0] if len(names) == 1 else "past_key_values.*"
        self.progress(f"{spec.name}: {label}, {what} changed")
        ref_changed, case_rows = self._case(f"{label}, {what} changed", {**feed, **values}, pooled=False)
        value = moved(spec, ref, ref_changed)
        rows.append(ParityRow(spec.name, f"{label}, {what} changed", "(reference)", "moved by", value,
                              f"> {spec.tolerance}", value > 0))
        rows.extend(case_rows)
        return True


def _agreement_rows(artifact: Artifact, model, backend: str, precision: str, progress, session_options) -> list:
    """fp32: identical free-running greedy tokens is the gate. Reduced precisions: teacher-forced choice agreement
    per stage is the gate; free-running agreement is reported (passed None), not judged."""
    from .agreement import greedy_agreement

    budget, fp32 = artifact.recipe.budget(precision), precision == "fp32"
    prompts = len(get_family(artifact.recipe.family).agreement_prompts())
    rows = []
    for a in greedy_agreement(artifact, model, backend, progress, teacher_forced=not fp32, **session_options):
        first = "none" if a.first_divergence is None else f"step {a.first_divergence}"
        case = f"{prompts} prompts, {a.run}, free-running, first divergence: {first}"
        if fp32:
            rows.append(ParityRow("end to end", case, f"{a.stage} tokens", "tokens agree", a.free_share,
                                  f">= {budget.tokens:g}", a.free_share >= budget.tokens))
            continue
        rows.append(ParityRow("end to end", case, f"{a.stage} tokens", "tokens agree", a.free_share, "reported", None))
        rows.append(ParityRow("end to end", f"{prompts} prompts, {a.run}, teacher-forced "
                                            f"({a.forced_choices} choices)", f"{a.stage} tokens", "choices agree",
                              a.forced_share, f">= {budget.tokens:g}", a.forced_share >= budget.tokens))
    return rows


def _cast_feed(feed: dict, spec: GraphSpec) -> dict:
    """The reference's float32 feed in the graph's input dtypes (fp16 KV caches)."""
    return {t.name: np.asarray(feed[t.name]).astype(t.dtype, copy=False) for t in spec.inputs}


def format_table(rows: list[ParityRow]) -> str:
    """A plain-text table: graph, case, output, metric, value, bound, pass."""
    header = ("graph", "case", "output", "metric", "value", "bound", "pass")
    lines = [(r.graph, r.case, r.output, r.metric, f"{r.value:.3e}", r.bound, _verdict(r.passed))
             for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*l) for l in lines])


def failures(rows: list[ParityRow]) -> list[ParityRow]:
    """The rows that failed (reported rows never do)."""
    return [r for r in rows if r.passed is False]


def _verdict(passed: bool | None) -> str:
    return "info" if passed is None else "PASS" if passed else "FAIL"
