"""Does an fp16 KV cache pay on this CPU? One causal graph with fp32 caches against the same graph with fp16 caches.

usage: python scripts/bench_kv_dtype.py ARTIFACT [--graph NAME] [--past 10 1000] [--steps 40]

The fp16 variant keeps the artifact's weights (fp32 or int8) and casts each GroupQueryAttention's
query, key and value to float16 and its output back to float32, so the caches (its past/present
inputs and outputs, bound as one buffer) are float16: half the bytes a step reads. Both run through
onnxruntime IO binding with the caches bound in place, steps interleaved (median ms, batch 1); the
last column is the largest logits difference against the fp32-cache graph on the same cache values.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from benchtools import timed
from ttsx.artifact.manifest import load_artifact


def fp16_cache_graph(path: Path, out: Path) -> None:
    """Write a copy of the graph whose GroupQueryAttention nodes keep float16 caches."""
    model = onnx.load(str(path))
    graph = model.graph
    nodes = []
    for node in graph.node:
        if node.op_type != "GroupQueryAttention":
            nodes.append(node)
            continue
        for i in range(3):  # query, key, value
            if node.input[i]:
                cast = f"{node.input[i]}_fp16"
                nodes.append(helper.make_node("Cast", [node.input[i]], [cast], to=TensorProto.FLOAT16))
                node.input[i] = cast
        output = node.output[0]
        node.output[0] = f"{output}_fp16"
        nodes.append(node)
        nodes.append(helper.make_node("Cast", [node.output[0]], [output], to=TensorProto.FLOAT))
    del graph.node[:]
    graph.node.extend(nodes)
    for value in list(graph.input) + list(graph.output):
        if value.name.startswith(("past_key_values.", "present.")):
            value.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.save(model, str(out), save_as_external_data=True, location=out.name + ".data")


def stepper(path: Path, spec, past: int, dtype, caches_from: dict):
    """A function running one step at `past` on the graph at path (caches bound once), and its logits array."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as ttsx's sessions
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    binding = session.io_binding()
    for pair in spec.cache:
        value = ort.OrtValue.ortvalue_from_numpy(caches_from[pair.past].astype(dtype))
        binding.bind_ortvalue_input(pair.past, value)
        binding.bind_ortvalue_output(pair.present, value)
    feed = {name: np.array([[42]], np.int64) for name in spec.step_inputs if name.endswith("_ids")}
    if "history_ids" in feed:
        feed["history_ids"][:] = -1
    feed[spec.lengths.cached] = np.array([past], np.int32)
    feed[spec.lengths.new] = np.array([1], np.int32)
    for name, value in feed.items():
        binding.bind_cpu_input(name, value)
    output = next(n for n in spec.output_names if not n.startswith("present."))
    logits = np.empty((1,) + tuple(d for d in next(t for t in spec.outputs if t.name == output).shape[1:]),
                      np.float32)
    binding.bind_ortvalue_output(output, ort.OrtValue.ortvalue_from_numpy(logits))
    return (lambda: session.run_with_iobinding(binding)), logits, session


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("artifact")
    parser.add_argument("--graph", default=None, help="a causal graph (default: the first)")
    parser.add_argument("--past", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    artifact = load_artifact(args.artifact)
    args.graph = args.graph or next(s.name for s in artifact.recipe.graphs() if s.cache)
    spec = artifact.graph_spec(args.graph)
    rng = np.random.default_rng(0)
    print(f"{artifact.recipe.name} {artifact.precision} {args.graph}, batch 1, median of {args.steps} interleaved steps")
    print(f"{'past':>5s} {'fp32 cache ms':>14s} {'fp16 cache ms':>14s} {'max |logits diff|':>18s}")
    with tempfile.TemporaryDirectory() as tmp:
        half = Path(tmp) / f"{args.graph}-fp16-cache.onnx"
        fp16_cache_graph(artifact.graph_path(args.graph), half)
        for past in args.past:
            t = next(t for t in spec.inputs if t.name == spec.cache[0].past)
            shape = (1, t.shape[1], past + 1, t.shape[3])
            caches = {p.past: rng.standard_normal(shape).astype(np.float32) for p in spec.cache}
            full_step, full_logits, _a = stepper(artifact.graph_path(args.graph), spec, past, np.float32, caches)
            half_step, half_logits, _b = stepper(half, spec, past, np.float16, caches)
            full_step(), half_step()
            diff = float(np.abs(full_logits - half_logits).max())  # the first step: same cache values
            samples = {"fp32": [], "fp16": []}
            for _ in range(args.steps):  # interleaved, so that machine drift hits both alike
                samples["fp32"].append(timed(full_step, 1, warmup=0))
                samples["fp16"].append(timed(half_step, 1, warmup=0))
            print(f"{past:5d} {np.median(samples['fp32']):14.2f} {np.median(samples['fp16']):14.2f} {diff:18.4f}")


if __name__ == "__main__":
    main()
