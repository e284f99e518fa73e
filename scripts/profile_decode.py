"""Where one decode step's time goes: ms per step at several pasts, and onnxruntime's profiler by op type.

usage: python scripts/profile_decode.py ARTIFACT GRAPH [--past 10 1000] [--batch 1] [--steps 30]

For each past length it times the stage session the way the pipeline steps it (an in-place cache:
caches attached once, each step feeds its small inputs; an older concatenating graph: the caches fed
every step), then profiles the bare graph (onnxruntime's `enable_profiling`, 5 steps) and prints
the kernel time per op type. It also prints the bytes of KV cache one step must read at that past
and what reading them costs at the measured bandwidth.
"""
from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ttsx.artifact.manifest import load_artifact
from ttsx.runtimes.factory import open_session


def read_bandwidth_gbs() -> float:
    """GB/s of torch.sum over 1 GiB of float32, best of 5."""
    x = torch.ones(1 << 28)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        x.sum()
        best = min(best, time.perf_counter() - start)
    return x.numel() * 4 / best / 1e9


def decode_feed(spec, batch: int, past: int, rng) -> dict:
    """A one-token feed at `past` positions: random ids inside the bounds, random floats, caches of `past`
    (an in-place cache: capacity past + 1, cache_lengths = past)."""
    from ttsx.recipes.spec import TensorSpec

    feed = {}
    sizes = {"batch": batch, "past_sequence": past, "total_sequence": past + 1, "capacity": past + 1,
             "sequence": 1}
    for t in spec.inputs:
        t: TensorSpec
        shape = tuple(sizes.get(d, 1) if isinstance(d, str) else d for d in t.shape)
        if t.dtype.startswith("int"):
            low, high = t.bounds or (0, 2)
            feed[t.name] = np.full(shape, high - 1 if t.name == "attention_mask" else low, t.dtype)
            if t.name == "position_ids":
                feed[t.name][:] = past
            elif t.name in ("input_ids",):
                feed[t.name] = rng.integers(max(low, 0), min(high, 1000), shape).astype(t.dtype)
            elif spec.lengths and t.name == spec.lengths.cached:
                feed[t.name][:] = past
            elif spec.lengths and t.name == spec.lengths.new:
                feed[t.name][:] = 1
        else:
            feed[t.name] = rng.standard_normal(shape).astype(t.dtype)
    return feed


def cache_bytes(spec, feed: dict, past: int) -> int:
    """Bytes of the valid cache one step reads (`past` positions of every cache input)."""
    return sum(feed[p.past].nbytes // feed[p.past].shape[p.axis] * past for p in spec.cache)


def time_session(session, feed: dict, steps: int) -> float:
    """Median ms per step of session.run, the host reading only the non-cache outputs."""
    if session.spec.lengths:  # attach the caches once, as CausalRunner does
        pair = session.spec.cache[0]
        batch, capacity = feed[pair.past].shape[0], feed[pair.past].shape[pair.axis]
        session.attach(session.new_cache(batch, capacity))  # zeros: a step's time does not depend on the values
        feed = {n: v for n, v in feed.items() if n not in session.attached}
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        session.run(feed, host=session.host_outputs)
        if i >= 3:
            times.append(time.perf_counter() - start)
    session.detach()
    return float(np.median(times)) * 1e3


def profile_ops(path: Path, spec, feed: dict, steps: int = 5) -> dict[str, float]:
    """ms per step by op type from onnxruntime's profiler (in-place caches bound as input and output)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        binding = session.io_binding()
        for name, value in feed.items():
            binding.bind_ortvalue_input(name, ort.OrtValue.ortvalue_from_numpy(value))
        in_place = {p.present: p.past for p in spec.cache} if spec.lengths else {}
        for name in spec.output_names:
            if name in in_place:
                binding.bind_ortvalue_output(name, ort.OrtValue.ortvalue_from_numpy(feed[in_place[name]]))
            else:
                binding.bind_output(name, "cpu")
        for _ in range(steps):
            session.run_with_iobinding(binding)
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3 / steps
    return dict(totals.most_common())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("graph")
    parser.add_argument("--past", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    artifact = load_artifact(args.artifact)
    bandwidth = read_bandwidth_gbs()
    rng = np.random.default_rng(0)
    print(f"{artifact.recipe.name} {artifact.precision} {args.graph}, batch {args.batch}; "
          f"read bandwidth {bandwidth:.1f} GB/s")
    with open_session(artifact, args.graph) as session:
        for past in args.past:
            feed = decode_feed(session.spec, args.batch, past, rng)
            ms = time_session(session, feed, args.steps)
            nbytes = cache_bytes(session.spec, feed, past)
            print(f"past {past:5d}: {ms:7.2f} ms/step (session.run, median of {args.steps}); KV cache "
                  f"{nbytes / 1e6:6.1f} MB = {nbytes / bandwidth / 1e6:5.2f} ms to read")
            ops = profile_ops(artifact.graph_path(args.graph), session.spec, feed)
            total = sum(ops.values())
            top = ", ".join(f"{op} {ms_:.2f}" for op, ms_ in list(ops.items())[:8])
            print(f"            profiler: {total:.2f} ms of kernels per step: {top}")


if __name__ == "__main__":
    main()
