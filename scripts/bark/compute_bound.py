"""How close Bark's compute-bound calls run to this CPU's GEMM rate: the coarse window prefill and a fine pass.

    python scripts/bark/compute_bound.py ARTIFACT [ARTIFACT ...] [--threads 2] [--step-graphs]

Per artifact (an int4 artifact's coarse prefill runs its prefill graph, as the pipeline does; with
--step-graphs it runs the decode-step graph instead: what an int4 prefill would cost):
  call ms           median of 3 runs after a warm-up (ttsx's session options: no thread spinning)
  weight GOP        2 x positions x the weight MatMuls' K x N (the multiply-adds the weights take)
  weight-GEMM ms    the profiler's kernel time of those MatMuls (MatMul, DynamicQuantizeMatMul, MatMulInteger,
                    MatMulNBits); achieved GOPS = weight GOP / that time
  attention ms      the rest of the top kernels (GroupQueryAttention, or the fine graph's MatMul/Softmax products)
Then the best of 30 runs of one bare GEMM of the coarse prefill's MLP shape (887 x 768 x 3072) in fp32 and in int8
(onnxruntime's dynamic int8, 7-bit weights as ttsx's int8), the practical peak those calls can reach here.
"""
from __future__ import annotations

import argparse
import collections
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from ttsx.app.probes import machine
from ttsx.artifact.manifest import load_artifact

COARSE_PROMPT = 887  # 256 semantic + the infer token + 630 coarse history: every window after the first
FINE_FRAMES = 1024  # a fine pass is over the whole (padded) window


def options(threads: int, profile_dir: str | None = None) -> ort.SessionOptions:
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_dir:
        o.enable_profiling = True
        o.profile_file_prefix = str(Path(profile_dir) / "profile")
    return o


def weight_macs(path: Path) -> int:
    """Sum of K x N over the graph's weight MatMuls (fp32 MatMul against an initializer, or a quantized one)."""
    model = onnx.load(str(path), load_external_data=False)
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    total = 0
    for node in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "MatMulNBits":
            total += attrs["K"] * attrs["N"]
        elif node.op_type in ("MatMul", "MatMulInteger", "DynamicQuantizeMatMul") and node.input[1] in dims:
            k, n = dims[node.input[1]][-2:]
            total += k * n
    return total


def coarse_prefill(session) -> dict:
    feed = {}
    for i in session.get_inputs():
        if i.name.startswith("past_key_values"):
            feed[i.name] = np.zeros((1, i.shape[1], COARSE_PROMPT + 64, i.shape[3]), np.float32)
        elif i.name == "cache_lengths":
            feed[i.name] = np.zeros(1, np.int32)
        elif i.name == "lengths":
            feed[i.name] = np.full(1, COARSE_PROMPT, np.int32)
        else:
            feed[i.name] = np.random.default_rng(0).integers(10_000, 12_000, (1, COARSE_PROMPT)).astype(np.int64)
    return feed


def fine_pass(session) -> dict:
    ids = np.random.default_rng(0).integers(0, 1024, (1, FINE_FRAMES, 8)).astype(np.int64)
    return {"input_ids": ids, "codebook_idx": np.array(2, np.int64)}


def measure(path: Path, feed_for, positions: int, threads: int) -> dict:
    session = ort.InferenceSession(str(path), options(threads), providers=["CPUExecutionProvider"])
    feed = feed_for(session)
    session.run(None, feed)
    times = []
    for _ in range(3):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    with tempfile.TemporaryDirectory() as tmp:
        profiled = ort.InferenceSession(str(path), options(threads, tmp), providers=["CPUExecutionProvider"])
        for _ in range(2):
            profiled.run(None, feed)
        events = json.loads(Path(profiled.end_profiling()).read_text())
    ops: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            ops[e["args"]["op_name"]] += e["dur"] / 2e3
    macs = weight_macs(path)
    return {"ms": float(np.median(times)) * 1e3, "gop": 2 * positions * macs / 1e9, "ops": ops}


def bare_gemm_gops(threads: int, int8: bool) -> float:
    m, k, n = COARSE_PROMPT, 768, 3072
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((k, n)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, m, n])], [w])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gemm.onnx"
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(path, Path(tmp) / "gemm8.onnx", weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True)
            path = Path(tmp) / "gemm8.onnx"
        session = ort.InferenceSession(str(path), options(threads), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, m, k)).astype(np.float32)
    session.run(None, {"x": x})
    best = float("inf")
    for _ in range(30):
        start = time.perf_counter()
        session.run(None, {"x": x})
        best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--step-graphs", action="store_true", help="prefill on the decode-step graph")
    args = parser.parse_args()
    cpu = machine()
    print(f"machine: {cpu['processor']}, {cpu['cpus']} CPUs, flags {' '.join(cpu['flags'])}; {args.threads} "
          f"onnxruntime threads\n")
    print("| artifact | call | graph | call ms | weight GOP | weight-GEMM ms | achieved GOPS | other top kernels ms |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    for root in args.artifacts:
        artifact = load_artifact(root)
        for call, graph, feed_for, positions in (("coarse prefill 887", "coarse", coarse_prefill, COARSE_PROMPT),
                                                 ("fine pass 1024", "fine", fine_pass, FINE_FRAMES)):
            path = (None if args.step_graphs else artifact.prefill_path(graph)) or artifact.graph_path(graph)
            r = measure(path, feed_for, positions, args.threads)
            gemm_ops = {"MatMulNBits", "DynamicQuantizeMatMul", "MatMulInteger"} & set(r["ops"])
            weight_ms = sum(r["ops"][op] for op in gemm_ops) if gemm_ops else r["ops"].get("MatMul", 0.0)
            others = ", ".join(f"{op} {v:.0f}" for op, v in r["ops"].most_common(5)
                               if op not in gemm_ops and not (not gemm_ops and op == "MatMul"))
            print(f"| {Path(root).name} | {call} | {path.name} | {r['ms']:.0f} | {r['gop']:.1f} | {weight_ms:.0f} "
                  f"| {r['gop'] / weight_ms * 1e3:.0f} | {others} |", flush=True)
    print(f"\nbare GEMM {COARSE_PROMPT}x768x3072: fp32 {bare_gemm_gops(args.threads, False):.0f} GFLOPS, "
          f"int8 (dynamic, 7-bit weights) {bare_gemm_gops(args.threads, True):.0f} GOPS")


if __name__ == "__main__":
    main()
