"""Decode-step and fine-window time per precision (onnxruntime CPU) against eager PyTorch fp32.

usage: python scripts/bark/bench_precision.py FP32_ARTIFACT [OTHER_ARTIFACTS...] [--past 256] [--steps 30]

Prints one table: semantic decode step (batch 1, past --past) and one fine window (1024 frames,
the 6 codebook passes transformers runs), median ms, with each graph's memory-bandwidth floor:
the bytes of weights a call must read (initializers other than embedding tables, which are only
gathered) divided by the read bandwidth measured here at the start of the run.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/benchtools.py
from benchtools import timed  # noqa: E402
from ttsx.artifact.manifest import load_artifact
from ttsx.recipes.causal import build_cache
from ttsx.runtimes.reference import reference_model
from ttsx.runtimes.factory import open_session


def read_bandwidth_gbs() -> float:
    """Read bandwidth (GB/s): torch sum over a 1 GiB float32 buffer on all threads, best of 5."""
    x = torch.ones(1 << 28)
    best = min(_seconds(lambda: x.sum()) for _ in range(5))
    return x.numel() * 4 / best / 1e9


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def weight_bytes(path) -> int:
    """Bytes of initializers a call reads: all but tensors consumed only by Gather (embedding tables)."""
    model = onnx.load(str(path), load_external_data=False)
    consumers: dict[str, set] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, set()).add(node.op_type)
    total = 0
    for init in model.graph.initializer:
        if consumers.get(init.name, {"Gather"}) <= {"Gather"}:
            continue
        external = {e.key: e.value for e in init.external_data}
        total += int(external["length"]) if "length" in external else len(init.raw_data)
    return total


def decode_step(session, past: int):
    """A function running one semantic step (id 42, no history) after `past` cached positions, caches attached."""
    spec = session.spec
    session.attach(session.new_cache(1, past + 1))
    feed = {"input_ids": np.array([[42]], np.int64), "history_ids": np.array([[-1]], np.int64),
            spec.lengths.cached: np.array([past], np.int32), spec.lengths.new: np.array([1], np.int32)}
    return lambda: session.run(feed, host=session.host_outputs)


def ort_rows(artifact, args) -> list[tuple]:
    """(label, graph, ms, weight bytes) for the semantic decode step and one fine window."""
    rng = np.random.default_rng(0)
    label = f"ttsx onnxruntime {artifact.precision}"
    rows = []
    with open_session(artifact, "semantic") as session:
        ms = timed(decode_step(session, args.past), args.steps, warmup=2)
        rows.append((label, "semantic decode step", ms, weight_bytes(artifact.graph_path("semantic"))))
    with open_session(artifact, "fine") as session:
        ids = rng.integers(0, 1024, (1, 1024, 8))
        feeds = [{"input_ids": ids, "codebook_idx": np.array(k, np.int64)} for k in range(2, 8)]
        ms = timed(lambda: [session.run(f) for f in feeds], max(3, args.steps // 10), warmup=2)
        rows.append((label, "fine window (6 passes)", ms, 6 * weight_bytes(artifact.graph_path("fine"))))
    return rows


@torch.no_grad()
def torch_rows(artifact, args) -> list[tuple]:
    """Eager transformers fp32: BarkSemanticModel one token over a DynamicCache; BarkFineModel 6 passes."""
    model = reference_model(artifact)
    cfg = model.semantic.config
    shape = (1, cfg.num_heads, args.past, cfg.hidden_size // cfg.num_heads)
    past = [torch.randn(shape) for _ in range(2 * cfg.num_layers)]
    token = torch.tensor([[42]])

    def step():
        model.semantic(input_ids=token, past_key_values=build_cache(tuple(past)), use_cache=True)

    ids = torch.randint(0, 1024, (1, 1024, 8))
    fine = lambda: [model.fine_acoustics(k, ids) for k in range(2, 8)]  # noqa: E731
    label = "eager transformers fp32"
    return [(label, "semantic decode step", timed(step, args.steps, warmup=2),
             weight_bytes(artifact.graph_path("semantic"))),
            (label, "fine window (6 passes)", timed(fine, max(3, args.steps // 10), warmup=2),
             6 * weight_bytes(artifact.graph_path("fine")))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts", nargs="+", help="fp32 artifact first (its reference is the eager baseline)")
    parser.add_argument("--past", type=int, default=256)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    artifacts = [load_artifact(a) for a in args.artifacts]
    bandwidth = read_bandwidth_gbs()
    rows = torch_rows(artifacts[0], args)
    for artifact in artifacts:
        rows += ort_rows(artifact, args)
    base = {graph: ms for label, graph, ms, _ in rows[:2]}
    print(f"{artifacts[0].recipe.name}, random weights, batch 1, past {args.past}; {platform.processor() or 'cpu'}, "
          f"torch threads {torch.get_num_threads()}, measured read bandwidth {bandwidth:.1f} GB/s")
    print(f"{'runtime':32s} {'graph':24s} {'ms':>9s} {'speedup':>8s} {'weights MB':>11s} {'floor ms':>9s} "
          f"{'x floor':>8s}")
    for label, graph, ms, nbytes in rows:
        floor = nbytes / bandwidth / 1e6
        print(f"{label:32s} {graph:24s} {ms:9.2f} {base[graph] / ms:7.2f}x {nbytes / 1e6:11.1f} {floor:9.2f} "
              f"{ms / floor:7.2f}x")


if __name__ == "__main__":
    main()
