"""What one semantic decode step costs in the ttsx pipeline vs the bare onnxruntime graph call.

usage: python scripts/bench_decode_step.py ARTIFACT [--past 256] [--steps 50]
Prints a table (median ms per step over --steps steps, batch 1).
"""
from __future__ import annotations

import argparse

import numpy as np
import onnxruntime as ort

from benchtools import timed

import ttsx
from ttsx.runtimes.sampling import SamplingOptions, choose


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--past", type=int, default=256)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    pipeline = ttsx.load(args.artifact)
    runner = pipeline.semantic
    spec = runner.decode.spec
    heads, head_dim = spec.inputs[1].shape[1], spec.inputs[1].shape[3]
    rng = np.random.default_rng(0)
    past = {p.past: rng.standard_normal((1, heads, args.past, head_dim)).astype(np.float32) for p in spec.cache}
    token = np.array([[42]], np.int64)
    bare = ort.InferenceSession(str(pipeline.artifact.graph_path("semantic_decode")), providers=["CPUExecutionProvider"])
    bare_past = {n: ort.OrtValue.ortvalue_from_numpy(v) for n, v in past.items()}

    def bare_numpy():  # plain session.run: caches go in and come out as numpy every step
        bare.run(None, {"input_ids": token, **past})

    def bare_bound():  # IO binding, caches stay OrtValues, logits copied to host
        binding = bare.io_binding()
        binding.bind_cpu_input("input_ids", token)
        for name, value in bare_past.items():
            binding.bind_ortvalue_input(name, value)
        for name in spec.output_names:
            binding.bind_output(name, "cpu")
        bare.run_with_iobinding(binding)
        binding.get_outputs()[0].numpy()

    def pipeline_step():  # CausalRunner.step (validation + binding) + suppression + greedy choice
        runner._past = {n: bare_past[n] for n in bare_past}
        logits = runner.step({"input_ids": token})["logits"]
        choose(logits[:, :10_001], SamplingOptions(greedy=True), rng)

    rows = [("bare session.run, numpy caches", timed(bare_numpy, args.steps, warmup=3)),
            ("bare IO binding, OrtValue caches", timed(bare_bound, args.steps, warmup=3)),
            ("ttsx pipeline step (validate + bind + sample)", timed(pipeline_step, args.steps, warmup=3))]
    print(f"semantic_decode, batch 1, past {args.past}, {pipeline.recipe.name}, median of {args.steps} steps")
    print(f"{'path':48s} {'ms/step':>8s}")
    for name, ms in rows:
        print(f"{name:48s} {ms:8.2f}")


if __name__ == "__main__":
    main()
