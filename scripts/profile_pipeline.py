"""Where a synthesis spends its time: seconds per graph and phase (prefill, step, other calls).

usage: python scripts/profile_pipeline.py ARTIFACT [--tokens 256] [--batch 1] [--repeats 2]

Runs `ttsx bench`'s workload (greedy, EOS suppressed, its prompts) through the artifact's pipeline
with every session wrapped in a timer. A call of a causal graph is a "prefill" when it feeds more
than one position, a "step" otherwise; other graphs' calls are "call". The rest of the wall time
(sampling, the family's loop, host work between calls) is "between calls". One untimed warm-up run,
then the medians of `repeats` runs.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import time

from ttsx.artifact.manifest import load_artifact
from ttsx.app.bench import Workload
from ttsx.runtimes.factory import open_pipeline
from ttsx.runtimes.pipeline import SynthesisOptions
from ttsx.runtimes.session import SessionWrapper


class Timer(SessionWrapper):
    """Adds each run's wall time to `totals[(graph, phase)]`."""

    def __init__(self, inner, totals: collections.Counter, calls: collections.Counter):
        super().__init__(inner)
        self.totals, self.calls = totals, calls

    def _run(self, feed, host):
        spec = self.spec
        if spec.positions_input is None:
            phase = "call"
        else:
            phase = "prefill" if self.describe(feed[spec.positions_input])[0][1] > 1 else "step"
        start = time.perf_counter()
        out = super()._run(feed, host)
        self.totals[(spec.name, phase)] += time.perf_counter() - start
        self.calls[(spec.name, phase)] += 1
        return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    artifact = load_artifact(args.artifact)
    workload = Workload(args.tokens, (args.batch,), args.repeats)
    options = SynthesisOptions(greedy=True, max_tokens=args.tokens, stop_at_eos=False, batch_size=args.batch)
    totals: collections.Counter = collections.Counter()
    calls: collections.Counter = collections.Counter()
    runs = []
    with open_pipeline(artifact, wrap=lambda s: Timer(s, totals, calls)) as pipeline:
        pipeline(workload.texts(args.batch), options=options)  # warm-up
        for _ in range(args.repeats):
            totals.clear(), calls.clear()
            start = time.perf_counter()
            pipeline(workload.texts(args.batch), options=options)
            runs.append((time.perf_counter() - start, dict(totals), dict(calls)))
    wall = statistics.median(r[0] for r in runs)
    keys = list(runs[0][1])
    print(f"{artifact.recipe.name} {artifact.precision}, {args.tokens} first-stage tokens x batch {args.batch}, "
          f"median of {args.repeats} runs: {wall:.2f} s")
    print(f"{'graph':<12s} {'phase':<8s} {'calls':>6s} {'seconds':>8s} {'ms/call':>8s} {'share':>6s}")
    for key in keys:
        seconds = statistics.median(r[1].get(key, 0.0) for r in runs)
        n = runs[0][2][key]
        print(f"{key[0]:<12s} {key[1]:<8s} {n:6d} {seconds:8.2f} {seconds / n * 1e3:8.2f} {seconds / wall:6.1%}")
    between = wall - statistics.median(sum(r[1].values()) for r in runs)
    print(f"{'between calls':<21s} {'':>6s} {between:8.2f} {'':>8s} {between / wall:6.1%}")


if __name__ == "__main__":
    main()
