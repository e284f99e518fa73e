"""fp32 ONNX graph -> fp16, int8 (onnxruntime CPU) or int8 Q/DQ (TensorRT) graph with the same I/O names.

    fp32 graph ──fp16──────> initializers and compute fp16; the spec's fp32_ops (norms) fp32 (Cast around them);
                             KV cache fp16 at the boundary, logits/waveform fp32 (Cast before the output)
               ──int8──────> weight MatMuls -> DynamicQuantizeLinear + MatMulInteger (int8 weights in
                             7 bits, per output channel; uint8 activations quantized per call)
               ──int8-qdq──> weight MatMuls (but output heads and attention output projections) get
                             QuantizeLinear/DequantizeLinear on both inputs: int8 (weights in 7 bits),
                             symmetric, zero point 0,
                             activation scales calibrated on stage inputs captured from the fp32 pipeline
                             (exporter/calibration.py)
               ──int4──────> weight MatMuls -> com.microsoft MatMulNBits: int4 weights in blocks of 32 along K,
                             symmetric, one fp32 scale per block; accuracy level 4 (activations quantized to int8
                             per block, products in int8: the fast path; level 0 dequantizes to fp32)

int4 is for decode steps, which read every weight once per token and so run at the memory's speed:
on an AVX2 EPYC a 12-layer, width-768 decode step at 900 cached positions took 7.13 ms int4 against 8.79 int8.
A prefill (887 positions) is compute-bound, and there int4's kernels are slower than int8's (1159 ms
against 714 ms; fp32 1033: docs/BENCHMARKS.md "CPU speed"), so `ttsx quantize --precision int4` gives a
causal graph both: its decode graph int4, and a prefill graph with int8 dynamic weights over the same cache (the runtime binds one
cache to both, runtimes/phased.py). Graphs without a cache run once over a long input and get int8.

Only MatMuls whose second input is a weight are quantized: attention's QK^T and PV products (two
activations) and the embedding gathers stay in float, which costs little time and keeps attention exact.
int8-qdq also leaves float the projection right after attention: its input is an average over the
attended positions, whose size changes with the number of positions, so no one static per-tensor
scale fits it (the measurement: docs/BENCHMARKS.md, int8-qdq accuracy).
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable

import onnx

from ttsx.base.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from .graph_passes import drop_fp16_round_trips, shape_math_nodes
from .onnx_export import check_io, save_graph

ORT_MAX_IR = 10  # IR 10 (onnx 1.16) is read by every onnxruntime and TensorRT parser ttsx targets
# int8 weights in 7 bits ([-64, 63]): onnxruntime's x86 int8 kernels without VNNI add pairs of uint8 x int8
# products into int16, which 8-bit weights overflow (255 * 127 * 2 > 32767) and 7-bit ones do not, so the
# same graph computes the same on every x86 CPU (docs/BENCHMARKS.md, "Quantized verdicts on every CPU").
REDUCE_RANGE = True


ATTENTION_OPS = {"GroupQueryAttention", "MultiHeadAttention", "Attention"}
RESHAPES = {"Reshape", "Transpose", "Cast", "Identity", "Squeeze", "Unsqueeze", "Flatten"}


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """Names of MatMul nodes whose right-hand input is an initializer (a weight, not an activation)."""
    weights = {init.name for init in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def attention_projections(model: onnx.ModelProto) -> set[str]:
    """Weight MatMuls whose input is an attention output: an attention op's, or a product of two activations
    (softmax(QK^T)·V), reached through reshapes and transposes only."""
    weights = {init.name for init in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}

    def attention_output(name: str) -> bool:
        node = producer.get(name)
        while node is not None and node.op_type in RESHAPES:
            node = producer.get(node.input[0])
        return node is not None and (node.op_type in ATTENTION_OPS
                                     or (node.op_type == "MatMul" and not set(node.input) & weights))

    return {n.name for n in model.graph.node
            if n.op_type == "MatMul" and n.input[1] in weights and attention_output(n.input[0])}


def qdq_matmuls(model: onnx.ModelProto) -> list[str]:
    """The weight MatMuls int8-qdq quantizes: all but output heads (logits) and attention output projections."""
    outputs = {o.name for o in model.graph.output}
    outputs |= {i for n in model.graph.node if n.op_type == "Add" and set(n.output) & outputs for i in n.input}  # + bias
    kept_float = {n.name for n in model.graph.node if set(n.output) & outputs} | attention_projections(model)
    return [name for name in weight_matmuls(model) if name not in kept_float]


def to_fp16(src: Path, spec: GraphSpec, out_dir: Path) -> list[str]:
    """Convert the graph at src to fp16 with the spec's float32 I/O kept float32.

    The spec's `convert.fp32_ops` stay fp32: norms reduce a mean (and variance) over the hidden
    width, whose squares overflow fp16 (max 65504) once |x| > 256 and whose sums lose precision.
    Shape arithmetic (a padding length from a tensor's length, say) stays fp32 too: graph_passes.shape_math_nodes.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.load(str(src))
    keep = [t.name for t in spec.inputs + spec.outputs if t.dtype == "float32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "values clipped to fp16 range": the -inf attention mask constant
        shape_math = shape_math_nodes(model)
        converted = convert_float_to_float16(model, keep_io_types=keep, op_block_list=list(spec.convert.fp32_ops),
                                             node_block_list=shape_math)
    drop_fp16_round_trips(converted, set(shape_math))
    converted.ir_version = min(converted.ir_version, ORT_MAX_IR)
    OnnxModel(converted).topological_sort()  # the converter appends its Cast nodes at the end
    check_io(converted, spec)
    return save_graph(converted, spec.name, out_dir)


def to_int8_dynamic(src: Path, spec: GraphSpec, out_dir: Path, name: str | None = None,
                    keep: Callable[[str], bool] | None = None) -> list[str]:
    """onnxruntime CPU flavour: dynamic quantization of weight MatMuls, int8 per-channel weights (saved as
    NAME.onnx, default the graph's name); `keep(node name)`: weight MatMuls left fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, _quiet():
        out, copy = Path(tmp) / "quantized.onnx", _copied(src, Path(tmp))
        gemms_as_matmuls(copy)
        nodes = [n for n in weight_matmuls(onnx.load(str(copy), load_external_data=False)) if not (keep and keep(n))]
        quantize_dynamic(copy, out, op_types_to_quantize=["MatMul"], nodes_to_quantize=nodes, per_channel=True,
                         reduce_range=REDUCE_RANGE, weight_type=QuantType.QInt8, use_external_data_format=True,
                         extra_options={"MatMulConstBOnly": True})
        return _finish(out, spec, out_dir, name)


INT4_BLOCK = 32  # weights per scale along K: onnxruntime-genai's CPU default; 128 measured less accurate
INT4_ACCURACY_LEVEL = 4  # MatMulNBits computes with int8 activations (level 0 would dequantize to fp32: 2x slower)


def to_int4(src: Path, spec: GraphSpec, out_dir: Path) -> list[str]:
    """int4 block-wise weights for weight MatMuls: onnxruntime's MatMulNBitsQuantizer (needs the onnx-ir package)."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, _quiet():
        copy = _copied(src, Path(tmp))
        gemms_as_matmuls(copy)
        model = onnx.load(str(copy))
        quantizer = MatMulNBitsQuantizer(model, bits=4, block_size=INT4_BLOCK, is_symmetric=True,
                                         accuracy_level=INT4_ACCURACY_LEVEL)  # MatMuls whose B is a weight
        quantizer.process()
        out = Path(tmp) / "quantized.onnx"
        quantizer.model.save_model_to_file(str(out), use_external_data_format=True)
        return _finish(out, spec, out_dir)


def to_int8_qdq(src: Path, spec: GraphSpec, out_dir: Path, samples: list[dict]) -> list[str]:
    """TensorRT flavour: symmetric int8 Q/DQ (zero point 0) around weight MatMuls, calibrated on samples."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not samples:
        raise TtsxError(f"{spec.name}: no calibration inputs were captured; give calibration prompts")
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp, _quiet():
        out, copy = Path(tmp) / "quantized.onnx", _copied(src, Path(tmp))
        gemms_as_matmuls(copy)
        nodes = qdq_matmuls(onnx.load(str(copy), load_external_data=False))
        quantize_static(copy, out, _Reader(samples), quant_format=QuantFormat.QDQ, op_types_to_quantize=["MatMul"],
                        nodes_to_quantize=nodes, per_channel=True, reduce_range=REDUCE_RANGE,
                        activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
                        use_external_data_format=True,
                        # Q/DQ on each weight MatMul's inputs only: that is what TensorRT needs to run it in
                        # int8. Quantizing its output too cost a tiny model's attention projections all their
                        # precision (an output range calibrated over other steps rounded them to zero).
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                       "OpTypesToExcludeOutputQuantization": ["MatMul"]})
        return _finish(out, spec, out_dir)


def gemms_as_matmuls(path: Path) -> int:
    """Rewrite, in the graph at `path`, each Gemm whose B is a weight (alpha = beta = 1, no transA) as MatMul and,
    with a bias, Add; how many. The quantizers quantize weight MatMuls, and a linear layer on 2-D inputs (GPT-2's
    Conv1D, say) exports as Gemm, which would stay float. transB weights are stored transposed."""
    from onnx import helper, numpy_helper

    def plain(node) -> bool:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        return (node.op_type == "Gemm" and node.input[1] in weights and not attrs.get("transA", 0)
                and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0)

    model = onnx.load(str(path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    if not any(plain(n) for n in model.graph.node):
        return 0
    model = onnx.load(str(path))
    weights, inits = {init.name for init in model.graph.initializer}, {i.name: i for i in model.graph.initializer}
    nodes, changed = [], 0
    for node in model.graph.node:
        if not plain(node):
            nodes.append(node)
            continue
        b = node.input[1]
        if any(a.name == "transB" and a.i for a in node.attribute):
            transposed = numpy_helper.from_array(numpy_helper.to_array(inits[b]).T.copy(), f"{b}_transposed")
            model.graph.initializer.append(transposed)
            b = transposed.name
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        product = f"{node.output[0]}_product" if bias else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], b], [product], name=f"{node.name}_MatMul"))
        if bias:
            nodes.append(helper.make_node("Add", [product, bias], [node.output[0]], name=f"{node.name}_Add"))
        changed += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    used = {i for n in model.graph.node for i in n.input}
    kept = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)
    onnx.save_model(model, str(path), save_as_external_data=True, location=f"{path.name}.data")
    return changed


def _copied(src: Path, tmp: Path) -> Path:
    """A copy of the graph and its weights files in tmp: onnxruntime's quantizers write `<graph>-inferred.onnx`
    beside the graph they are given, and nothing ttsx runs may write into a source artifact. (onnx refuses
    weights files that are symlinks or have other hard links, so it is a copy.)"""
    model = onnx.load(str(src), load_external_data=False)
    locations = {e.value for tensor in model.graph.initializer for e in tensor.external_data if e.key == "location"}
    for name in {src.name} | locations:
        target = tmp / "source" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.parent / name, target)
    return tmp / "source" / src.name


@contextlib.contextmanager
def _quiet():
    """Silence onnxruntime.quantization's root-logger advice ("consider pre-processing ...")."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def _finish(path: Path, spec: GraphSpec, out_dir: Path, name: str | None = None) -> list[str]:
    model = onnx.load(str(path))
    model.ir_version = min(model.ir_version, ORT_MAX_IR)
    check_io(model, spec)
    return save_graph(model, name or spec.name, out_dir)


class _Reader:
    """onnxruntime CalibrationDataReader over captured feeds."""

    def __init__(self, samples: list[dict]):
        self._samples = iter(samples)

    def get_next(self) -> dict | None:
        """The next feed, or None when all were read."""
        return next(self._samples, None)
