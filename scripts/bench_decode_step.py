"""What one decode step of a causal graph costs in ttsx vs the bare onnxruntime call (in-place KV cache).

usage: python scripts/bench_decode_step.py ARTIFACT [--graph NAME] [--past 10 256 1000] [--steps 50]

Rows, per past length (batch 1, median ms per step):
  bare        onnxruntime IO binding with the cache OrtValue bound as input and output, bound once;
              per step only the ids and lengths are bound (the least work onnxruntime allows); the
              session has ttsx's options (no thread spinning between runs)
  session     ttsx's StageSession.run on attached caches (validation of the small inputs, binding, run)
  runner      CausalRunner.step plus a greedy choice on a slice of the logits (what the pipeline does)
"""
from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort

from benchtools import timed

from ttsx.artifact.manifest import load_artifact
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.factory import open_session
from ttsx.runtimes.sampling import SamplingOptions, choose


def step_feed(spec, past: int) -> dict:
    """A one-token step after `past` cached positions: id 42 (history -1 where the graph takes it)."""
    feed = {name: np.array([[42]], np.int64) for name in spec.step_inputs if name.endswith("_ids")}
    if "history_ids" in feed:
        feed["history_ids"][:] = -1
    return feed


def interleaved(steps_by_name: dict, steps: int) -> dict[str, float]:
    """Median ms per call of each function, calls interleaved so that machine drift hits all alike."""
    samples: dict[str, list[float]] = {name: [] for name in steps_by_name}
    for i in range(steps + 3):
        for name, fn in steps_by_name.items():
            ms = timed(fn, 1, warmup=0)
            if i >= 3:
                samples[name].append(ms)
    return {name: float(np.median(values)) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--graph", default=None, help="a causal graph (default: the first)")
    parser.add_argument("--past", type=int, nargs="+", default=[10, 256, 1000])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    artifact = load_artifact(args.artifact)
    args.graph = args.graph or next(s.name for s in artifact.recipe.graphs() if s.cache)
    session = open_session(artifact, args.graph)
    spec = session.spec
    print(f"{args.graph}, batch 1, {artifact.recipe.name} {artifact.precision}, median of {args.steps} interleaved steps")
    print(f"{'past':>5s} {'bare ms':>8s} {'session ms':>11s} {'runner ms':>10s}")
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    bare = ort.InferenceSession(str(artifact.graph_path(args.graph)), options, providers=["CPUExecutionProvider"])
    for past in args.past:
        feed = step_feed(spec, past)
        lengths = {spec.lengths.cached: np.array([past], np.int32), spec.lengths.new: np.array([1], np.int32)}
        caches = session.new_cache(1, past + 1)
        binding = bare.io_binding()
        for pair in spec.cache:
            binding.bind_ortvalue_input(pair.past, caches[pair.past])
            binding.bind_ortvalue_output(pair.present, caches[pair.past])
        for name in session.host_outputs:
            binding.bind_output(name, "cpu")

        def bare_step():
            for name, value in {**feed, **lengths}.items():
                binding.bind_cpu_input(name, value)
            bare.run_with_iobinding(binding)

        twin = open_session(artifact, args.graph)  # a second session: runner and session steps interleave
        twin.attach(twin.new_cache(1, past + 1))
        runner = CausalRunner(session)
        runner.start({k: np.repeat(v, past, 1) for k, v in feed.items()}, [past], args.steps * 4)
        greedy = SamplingOptions(greedy=True)

        def runner_step():
            runner.cache_lengths[:] = past  # stay at this past length
            logits = runner.step(feed)[session.host_outputs[0]]
            choose(logits[:, :10_001], greedy, None)

        ms = interleaved({"bare": bare_step, "session": lambda: twin.run({**feed, **lengths}, host=twin.host_outputs),
                          "runner": runner_step}, args.steps)
        runner.close()
        twin.close()
        print(f"{past:5d} {ms['bare']:8.2f} {ms['session']:11.2f} {ms['runner']:10.2f}")


if __name__ == "__main__":
    main()
