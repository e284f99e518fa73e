"""Time one decode step of a Bark causal graph on onnxruntime at given (past, capacity) pairs, and split it by op.

    python scripts/bark/decode_step_capacity.py ARTIFACT [--graph semantic] [--threads 2]

A step feeds one token per row over an in-place cache of `capacity` positions holding `past` of them
(random values); the median of 40 steps after 5 warm-ups is printed per pair, then onnxruntime's
profile of 100 steps at each pair's kernel time by op type (profiling inflates the totals; compare shares).
"""
from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np
import onnxruntime as ort

PAIRS = ((16, 64), (16, 1024), (256, 512), (256, 1024), (768, 1024))


def feed_for(session, past: int, capacity: int) -> dict:
    feed, rng = {}, np.random.default_rng(0)
    for i in session.get_inputs():
        if i.name.startswith("past_key_values"):
            heads, width = i.shape[1], i.shape[3]
            feed[i.name] = rng.standard_normal((1, heads, capacity, width)).astype(np.float32)
        elif i.name == "lengths":
            feed[i.name] = np.array([1], np.int32)  # positions in this call
        elif i.name == "cache_lengths":
            feed[i.name] = np.array([past], np.int32)
        else:
            feed[i.name] = np.full((1, 1), 5, np.int64)  # token ids
    return feed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--graph", default="semantic")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    path = f"{args.artifact}/{args.graph}.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for past, capacity in PAIRS:
        feed = feed_for(session, past, capacity)
        for _ in range(5):
            session.run(["logits"], feed)
        times = []
        for _ in range(40):
            start = time.perf_counter()
            session.run(["logits"], feed)
            times.append(time.perf_counter() - start)
        print(f"{path}: past {past:4d}, capacity {capacity:5d}: step median {np.median(times) * 1e3:6.2f} ms")
    options.enable_profiling = True
    for past, capacity in PAIRS:
        profiled = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        feed = feed_for(profiled, past, capacity)
        for _ in range(100):
            profiled.run(["logits"], feed)
        events = json.load(open(profiled.end_profiling()))
        ops, runs = collections.Counter(), sum(e.get("name") == "model_run" for e in events)
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                ops[e["args"]["op_name"]] += e["dur"]
        print(f"  profile past {past}, capacity {capacity}: "
              + ", ".join(f"{op} {d / runs / 1e3:.2f} ms" for op, d in ops.most_common(3)))


if __name__ == "__main__":
    main()
