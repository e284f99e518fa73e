"""Does a decode step's cost follow the cache's capacity or its filled positions? One Bark causal graph on
onnxruntime, two ways of feeding the cache, at given (past, capacity) pairs.

    python scripts/bark/decode_step_capacity.py ARTIFACT [--graph semantic] [--threads 2]

in place: one OrtValue per cache bound as both the past input and the present output (what ttsx's
          runner does: GroupQueryAttention's shared-buffer mode, which reads each row's filled prefix)
copied:   the past fed as an input and the present returned as a new output (GroupQueryAttention then
          zeroes and fills a present buffer of the whole capacity: what this script measured before it
          had the in-place column, and what no ttsx session does)
A step feeds one token over a cache of `capacity` positions of which `past` are filled (random values),
with ttsx's session options (no thread spinning); the median of 40 steps after 5 warm-ups, the two ways
interleaved per pair.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import onnxruntime as ort

PAIRS = ((16, 64), (16, 1024), (256, 320), (256, 1024), (768, 832), (768, 1024))


def small_inputs(session, past: int) -> dict:
    feed = {}
    for i in session.get_inputs():
        if i.name == "lengths":
            feed[i.name] = np.array([1], np.int32)  # positions in this call
        elif i.name == "cache_lengths":
            feed[i.name] = np.array([past], np.int32)
        elif not i.name.startswith("past_key_values"):
            feed[i.name] = np.full((1, 1), 5, np.int64)  # token ids
    return feed


def caches(session, capacity: int) -> dict:
    rng = np.random.default_rng(0)
    return {i.name: rng.standard_normal((1, i.shape[1], capacity, i.shape[3])).astype(np.float32)
            for i in session.get_inputs() if i.name.startswith("past_key_values")}


def in_place_step(session, past: int, capacity: int):
    binding, keep = session.io_binding(), []
    for name, value in small_inputs(session, past).items():
        binding.bind_cpu_input(name, value)
    for name, value in caches(session, capacity).items():
        keep.append(ort.OrtValue.ortvalue_from_numpy(value))
        binding.bind_ortvalue_input(name, keep[-1])
        binding.bind_ortvalue_output(name.replace("past_key_values", "present"), keep[-1])
    binding.bind_output("logits")
    return lambda: session.run_with_iobinding(binding)


def copied_step(session, past: int, capacity: int):
    feed = {**small_inputs(session, past), **caches(session, capacity)}
    return lambda: session.run(["logits"], feed)


def median_ms(step, n: int = 40) -> float:
    for _ in range(5):
        step()
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--graph", default="semantic")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    path = f"{args.artifact}/{args.graph}.onnx"
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    print(f"{path}, {args.threads} threads\n\n| past | capacity | in place ms | copied ms |\n|---:|---:|---:|---:|")
    for past, capacity in PAIRS:
        print(f"| {past} | {capacity} | {median_ms(in_place_step(session, past, capacity)):.2f} "
              f"| {median_ms(copied_step(session, past, capacity)):.2f} |", flush=True)


if __name__ == "__main__":
    main()
