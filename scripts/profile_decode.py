"""Where one decode step's time goes, against what it must read: a markdown table per artifact and past length.

usage: python scripts/profile_decode.py ARTIFACT [ARTIFACT ...] --graph GRAPH [--past 16 300 900] [--batch 1]
                                       [--steps 30] [--threads 2] [--matmul-ceiling]

Per artifact and past length (one token per row over an in-place cache of past + 1 positions, attached once
as CausalRunner does; the session is the one the pipeline opens, so an int4 artifact's step runs its int4
graph):
  step ms          median of `steps` session.run calls
  weights MB       bytes of every initializer a step reads (all but tables that are only gathered from:
                   a step reads one row of each)
  cache MB         bytes of the filled cache positions (past of them, every cache input)
  floor ms         (weights + cache) / the measured read bandwidth; x floor = step / floor
  kernels ms       onnxruntime's profiler (`enable_profiling`, 20 steps): kernel time per step, the top op
                   kinds, and the rest of onnxruntime's run (`model_run` minus kernels: scheduling, allocation)
  MatMuls alone ms (--matmul-ceiling, fp32 graphs) a graph of nothing but the step's fp32 weight MatMuls, with
                   the same weight shapes and `batch` rows each: what onnxruntime's MatMul kernel takes to
                   read those weights here, the ceiling of an fp32 step on this CPU and onnxruntime
The profiler adds its own overhead: read the op split as shares. The header names the CPU and its flags.
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

from ttsx.app.probes import machine, read_bandwidth_gbs, step_weight_bytes
from ttsx.artifact.manifest import load_artifact
from ttsx.runtimes.factory import open_session

PROFILED_STEPS = 20


def decode_feed(spec, batch: int, past: int, rng) -> dict:
    """A one-token feed at `past` cached positions: ids inside their bounds, random floats, the lengths."""
    feed = {}
    for t in spec.inputs:
        if any(t.name == pair.past for pair in spec.cache):
            continue
        shape = tuple(batch if d == "batch" else 1 if isinstance(d, str) else d for d in t.shape)
        if t.name == spec.lengths.cached:
            feed[t.name] = np.full(shape, past, np.int32)
        elif t.name == spec.lengths.new:
            feed[t.name] = np.ones(shape, np.int32)
        elif t.dtype.startswith("int"):
            low, high = t.bounds or (0, 2)
            feed[t.name] = rng.integers(max(low, 0), min(high, 1000), shape).astype(t.dtype)
        else:
            feed[t.name] = rng.standard_normal(shape).astype(t.dtype)
    return feed


def time_steps(session, feed: dict, batch: int, past: int, steps: int) -> float:
    """Median ms per step, caches of past + 1 positions attached once (their values do not change the cost)."""
    session.attach(session.new_cache(batch, past + 1))
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        session.run(feed, host=session.host_outputs)
        if i >= 3:
            times.append(time.perf_counter() - start)
    session.detach()
    return float(np.median(times)) * 1e3


def profile_ops(path: Path, spec, feed: dict, batch: int, past: int, threads: int) -> tuple[dict, float]:
    """(ms per step by op type, ms per step of onnxruntime's run outside kernels), in-place caches bound."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    with tempfile.TemporaryDirectory() as tmp:
        options.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        binding, keep = session.io_binding(), []
        for name, value in feed.items():
            binding.bind_cpu_input(name, value)
        for pair in spec.cache:
            shape = session.get_inputs()[[i.name for i in session.get_inputs()].index(pair.past)].shape
            value = ort.OrtValue.ortvalue_from_numpy(np.zeros((batch, shape[1], past + 1, shape[3]), np.float32))
            keep.append(value)
            binding.bind_ortvalue_input(pair.past, value)
            binding.bind_ortvalue_output(pair.present, value)
        for name in spec.output_names:
            if name not in {pair.present for pair in spec.cache}:
                binding.bind_output(name, "cpu")
        session.run_with_iobinding(binding)
        for _ in range(PROFILED_STEPS):
            session.run_with_iobinding(binding)
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: collections.Counter = collections.Counter()
    runs = [e["dur"] for e in events if e.get("name") == "model_run"][1:]  # the first run warms up
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"] / 1e3 / (PROFILED_STEPS + 1)
    run_ms = float(np.mean(runs)) / 1e3 if runs else 0.0
    return dict(totals.most_common()), run_ms - sum(totals.values())


def matmul_ceiling(path: Path, batch: int, threads: int, steps: int) -> tuple[float, float]:
    """(median ms, MB) of a graph holding only the fp32 MatMuls of `path` whose B is a 2-D weight, each fed its
    own [batch, K] input: the weight reads of a step without anything else it does."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(path), load_external_data=False)
    weights = {t.name: tuple(t.dims) for t in model.graph.initializer
               if t.data_type == TensorProto.FLOAT and len(t.dims) == 2}
    shapes = [weights[n.input[1]] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    if not shapes:
        return float("nan"), 0.0
    rng = np.random.default_rng(0)
    nodes, initializers, inputs, outputs, feed = [], [], {}, [], {}
    for i, (k, n) in enumerate(shapes):
        if k not in inputs:
            inputs[k] = helper.make_tensor_value_info(f"x{k}", TensorProto.FLOAT, [batch, k])
            feed[f"x{k}"] = rng.standard_normal((batch, k)).astype(np.float32)
        initializers.append(numpy_helper.from_array(rng.standard_normal((k, n)).astype(np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [f"x{k}", f"w{i}"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [batch, n]))
    graph = helper.make_graph(nodes, "matmuls", list(inputs.values()), outputs, initializers)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    session = ort.InferenceSession(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                   .SerializeToString(), options, providers=["CPUExecutionProvider"])
    times = []
    for i in range(steps + 3):
        start = time.perf_counter()
        session.run(None, feed)
        if i >= 3:
            times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3, sum(k * n * 4 for k, n in shapes) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifacts", nargs="+")
    parser.add_argument("--graph", required=True)
    parser.add_argument("--past", type=int, nargs="+", default=[16, 300, 900])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--matmul-ceiling", action="store_true",
                        help="Also time the step's fp32 weight MatMuls alone (fp32 graphs).")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bandwidth = read_bandwidth_gbs()
    cpu = machine()
    print(f"machine: {cpu['processor']}, {cpu['cpus']} CPUs, flags {' '.join(cpu['flags'])}; read bandwidth "
          f"{bandwidth:.1f} GB/s; {args.threads} onnxruntime threads; graph {args.graph}, batch {args.batch}\n")
    print("| artifact | step graph | past | step ms | weights MB | cache MB | floor ms | x floor | kernels ms "
          "| top op kinds ms | run outside kernels ms |"
          + (" MatMuls alone ms (MB) | x MatMuls alone |" if args.matmul_ceiling else ""))
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|" + ("---:|---:|" if args.matmul_ceiling else ""))
    rng = np.random.default_rng(0)
    for root in args.artifacts:
        artifact = load_artifact(root)
        path = artifact.graph_path(args.graph)
        weights = step_weight_bytes(path)
        ceiling = matmul_ceiling(path, args.batch, args.threads, args.steps) if args.matmul_ceiling else None
        with open_session(artifact, args.graph, threads=args.threads) as session:
            spec = session.spec
            for past in args.past:
                feed = decode_feed(spec, args.batch, past, rng)
                ms = time_steps(session, feed, args.batch, past, args.steps)
                cache = sum(args.batch * t.shape[1] * past * t.shape[3] * np.dtype(t.dtype).itemsize
                            for t in spec.inputs if any(t.name == p.past for p in spec.cache))
                floor = (weights + cache) / bandwidth / 1e6
                ops, outside = profile_ops(path, spec, feed, args.batch, past, args.threads)
                top = ", ".join(f"{op} {v:.2f}" for op, v in list(ops.items())[:3])
                print(f"| {Path(root).name} | {path.name} ({artifact.manifest['graphs'][args.graph].get('precision', artifact.precision)}) "
                      f"| {past} | {ms:.2f} | {weights / 1e6:.1f} | {cache / 1e6:.1f} | {floor:.2f} | {ms / floor:.2f} "
                      f"| {sum(ops.values()):.2f} | {top} | {outside:.2f} |"
                      + (f" {ceiling[0]:.2f} ({ceiling[1]:.1f}) | {ms / ceiling[0]:.2f} |" if ceiling else ""),
                      flush=True)


if __name__ == "__main__":
    main()
