"""Is a reduced-precision artifact's parity verdict stable? The same artifacts at 1 and 2 onnxruntime threads
(other reduction orders), and the end-to-end gate on three more prompt sets, with each score's margin.

    python scripts/parity_stability.py ART [ART ...] [--seeds 1 2 3] [--threads 1 2] [--no-graphs]

Per artifact: `run_parity` at each thread count (per-graph rows and the end-to-end gate on the default
prompts; skipped with --no-graphs), then the teacher-forced end-to-end gate at the last thread count for
each prompt seed (two prompts drawn from a held-out pool). Prints a table row as each result comes:
artifact, run, gate, where, score, budget, margin and verdict. A 1-thread run uses one core, so two of
them can run side by side on a 2-core machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

def prompts_for(seed: int, pool: tuple[str, ...]) -> tuple[str, str]:
    """Two distinct texts of the family's held-out pool (Family.held_out_prompts), drawn by `seed`."""
    first, second = np.random.default_rng(seed).choice(len(pool), 2, replace=False)
    return pool[first], pool[second]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-graphs", action="store_true", help="only the end-to-end gate on the prompt seeds")
    args = parser.parse_args()

    from ttsx.checks.agreement import greedy_agreement
    from ttsx.artifact.manifest import load_artifact
    from ttsx.app.probes import machine
    from ttsx.checks.parity import failures, run_parity
    from ttsx.runtimes.reference import reference_model
    from ttsx.base.progress import third_party_quiet
    from ttsx.recipes import get_family

    info = machine()
    print(f"machine: {info['processor']}, {info['cpus']} CPUs, flags {' '.join(info['flags'])}")
    print(_row(HEADER), flush=True)
    lines = _Printed()
    for path in args.artifacts:
        artifact = load_artifact(path)
        budget = artifact.recipe.budget(artifact.precision)
        for threads in [] if args.no_graphs else args.threads:
            start = time.perf_counter()
            rows = run_parity(path, threads=threads)
            failed = failures(rows)
            gated = [r for r in rows if r.passed is not None and r.metric in ("rel L2", "top-1 agree", "choices agree")]
            for metric in ("rel L2", "top-1 agree", "choices agree"):
                scored = [r for r in gated if r.metric == metric]
                if not scored:
                    continue
                worst = max(scored, key=lambda r: r.value) if metric == "rel L2" else min(scored, key=lambda r: r.value)
                lines.append((artifact.root.name, f"{threads} thr, default prompts", f"worst {metric}",
                              f"{worst.graph} {worst.output}", worst.value, worst.bound, _margin(worst.value, worst.bound)))
            lines.append((artifact.root.name, f"{threads} thr, default prompts", "verdict", f"{len(rows)} rows",
                          float(len(failed)), "0 failed", "PASS" if not failed else "FAIL"))
            print(f"{path}: {threads} thread(s) done in {time.perf_counter() - start:.0f} s", flush=True)
        model = reference_model(artifact)
        for seed in args.seeds:
            with third_party_quiet():
                stages = greedy_agreement(artifact, model, "onnxruntime",
                                          prompts=prompts_for(seed, get_family(artifact.recipe.family).held_out_prompts()),
                                          threads=args.threads[-1])
            for a in stages:
                lines.append((artifact.root.name, f"{args.threads[-1]} thr, prompt seed {seed}",
                              f"{a.stage} choices agree", f"{a.forced_choices} choices (free {a.free_share:.3f})",
                              a.forced_share, f">= {budget.tokens:g}", _margin(a.forced_share, f">= {budget.tokens:g}")))
            print(f"{path}: prompt seed {seed} done", flush=True)
    print(f"{len(lines)} rows, {sum('FAIL' in line[-1] for line in lines)} failed")


def _margin(value: float, bound: str) -> str:
    kind, limit = bound.split()
    room = float(limit) - value if kind == "<=" else value - float(limit)
    return f"{room:+.3g} ({'PASS' if room >= 0 else 'FAIL'})"


HEADER = ("artifact", "run", "gate", "where", "score", "budget", "margin / verdict")


class _Printed(list):
    """A list of table rows that prints each row as it is added."""

    def append(self, line: tuple) -> None:
        super().append(line)
        print(_row(line), flush=True)


def _row(line: tuple) -> str:
    return "| " + " | ".join(f"{c:.4g}" if isinstance(c, float) else str(c) for c in line) + " |"


if __name__ == "__main__":
    main()
