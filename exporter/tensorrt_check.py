"""TensorRT-readiness of an ONNX graph, checked without TensorRT: ops, opset, dtypes, Q/DQ and If rules.

Runs on every graph `ttsx export` and `ttsx quantize` write (a warning there) and before
`ttsx build-engine` (a refusal there). The op table is exporter/tensorrt_support.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import numpy_helper

from .graph_passes import all_nodes, node_kinds
from .tensorrt_support import (BUILD_FAILURES, IO_ONLY_DTYPES, MAX_OPSET, MIN_OPSET, PARSER_DOC, SUPPORTED_DTYPES,
                               SUPPORTED_OPS, UNSUPPORTED_OPS)

DEFAULT_DOMAINS = ("", "ai.onnx")
QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")


@dataclass(frozen=True)
class Problem:
    """One thing TensorRT 11 would reject, located in a graph."""

    graph: str
    where: str  # node or tensor name
    message: str

    def __str__(self) -> str:
        return f"{self.graph}: {self.where}: {self.message}"


def meant_for_tensorrt(kv_cache: str, precision: str) -> bool:
    """Whether graphs of this KV-cache flavour and precision are meant to become TensorRT engines."""
    from ttsx.recipes.precision import get_precision

    return kv_cache == "tensorrt" and get_precision(precision).tensorrt


FLAVOUR_NOTE = ("this artifact is for onnxruntime ({what}); for TensorRT, export with --kv-cache tensorrt "
                "(then quantize to fp16 or int8-qdq): its TensorRT-readiness is checked and recorded per graph "
                "in manifest.json")


def readiness(path: Path, graph: str, warn) -> list[str]:
    """check_graph as manifest strings; the first problem goes to `warn` (a progress callback, or None: quiet)."""
    problems = [str(p) for p in check_graph(path, graph)]
    if problems and warn is not None:
        warn(f"warning: {graph} is not TensorRT-ready ({len(problems)} problems, all in manifest.json), "
             f"first: {problems[0]}")
    return problems


def check_graph(path: Path, graph: str) -> list[Problem]:
    """Every problem TensorRT's ONNX parser would have with the graph at path (empty list: ready)."""
    model = onnx.load(str(path), load_external_data=False)
    found = _opset(model, graph) + _io_dtypes(model.graph, graph)
    initializers = {i.name: i for i in model.graph.initializer}
    found += [Problem(graph, i.name, f"initializer of type {_type_name(i.data_type)}, which TensorRT does not "
                      "take") for i in model.graph.initializer if _type_name(i.data_type) not in SUPPORTED_DTYPES]
    for node in all_nodes(model.graph):
        found += _check_node(node, graph, initializers)
    return found + _check_cache_updates(model.graph, graph) + _check_shape_math(model, graph)


def _check_shape_math(model, graph: str) -> list[Problem]:
    """Shape arithmetic in fp16 (a Cast of an integer computed from tensor shapes to FLOAT16): TensorRT for RTX's
    Myelin refuses the float/half mix it makes (found by a real build), and fp16 holds integers exactly only up to
    2048. ttsx's fp16 conversion keeps it fp32 (graph_passes.shape_math_nodes)."""
    fp16 = onnx.TensorProto.FLOAT16
    casts = [node for node, kind in zip(model.graph.node, node_kinds(model)) if kind == "shape"
             and node.op_type == "Cast" and any(a.name == "to" and a.i == fp16 for a in node.attribute)]
    if not casts:
        return []
    typed = onnx.shape_inference.infer_shapes(model)  # element types of the intermediate values
    types = {v.name: v.type.tensor_type.elem_type for v in list(typed.graph.value_info) + list(typed.graph.input)}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    return [Problem(graph, node.name or "Cast", "shape arithmetic in fp16 (an integer computed from tensor shapes "
                    "cast to FLOAT16); keep it fp32: convert with `ttsx quantize --precision fp16`")
            for node in casts if _type_name(types.get(node.input[0], 0)).startswith(("INT", "UINT"))]


def _check_cache_updates(g, graph: str) -> list[Problem]:
    """An in-place KV update (TensorScatter) needs the cache as a graph input with a static capacity."""
    inputs = {v.name: v for v in g.input}
    problems = []
    for node in (n for n in all_nodes(g) if n.op_type == "TensorScatter"):
        cache = inputs.get(node.input[0])
        dims = cache.type.tensor_type.shape.dim if cache is not None else []
        if len(dims) < 2 or not dims[-2].HasField("dim_value"):
            problems.append(Problem(graph, node.name or "TensorScatter", "in-place cache update on a cache that is "
                                    "not a graph input with a static sequence capacity (axis -2)"))
    return problems


def _opset(model, graph: str) -> list[Problem]:
    version = next((o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS), None)
    if version is None or not MIN_OPSET <= version <= MAX_OPSET:
        return [Problem(graph, "opset_import", f"opset {version}; TensorRT's parser takes {MIN_OPSET}..{MAX_OPSET}")]
    return []


def _io_dtypes(g, graph: str) -> list[Problem]:
    return [Problem(graph, v.name, f"graph input/output of type {_type_name(v.type.tensor_type.elem_type)}, which "
                    "TensorRT does not take; cast it in the graph") for v in list(g.input) + list(g.output)
            if _type_name(v.type.tensor_type.elem_type) not in SUPPORTED_DTYPES]


def _check_node(node, graph: str, initializers: dict) -> list[Problem]:
    where = node.name or node.op_type
    if node.domain not in DEFAULT_DOMAINS:
        return [Problem(graph, where, f"custom-domain op {node.domain}::{node.op_type}; TensorRT needs a plugin")]
    if node.op_type in UNSUPPORTED_OPS or node.op_type not in SUPPORTED_OPS:
        return [Problem(graph, where, f"{node.op_type} is not supported by TensorRT's ONNX parser ({PARSER_DOC})")]
    if node.op_type in BUILD_FAILURES:
        return [Problem(graph, where, f"{node.op_type}: {BUILD_FAILURES[node.op_type]}")]
    if node.op_type in QDQ_OPS:
        return _check_qdq(node, graph, initializers)
    if node.op_type == "If":
        return _check_if(node, graph)
    if node.op_type == "Cast":
        to = _type_name(next(a.i for a in node.attribute if a.name == "to"))
        if to not in SUPPORTED_DTYPES or to in IO_ONLY_DTYPES:
            return [Problem(graph, where, f"Cast to {to}, which TensorRT does not compute in")]
    return []


def _check_qdq(node, graph: str, initializers: dict) -> list[Problem]:
    """Strongly typed int8: constant positive scales, zero point 0 of an 8-bit signed type."""
    where, problems = node.name or node.op_type, []
    scale = initializers.get(node.input[1])
    if scale is None:
        problems.append(Problem(graph, where, "Q/DQ scale is computed at run time; TensorRT needs an initializer"))
    elif (numpy_helper.to_array(scale) <= 0).any():
        problems.append(Problem(graph, where, "Q/DQ scale has values <= 0"))
    if len(node.input) > 2 and node.input[2]:
        zero = initializers.get(node.input[2])
        if zero is None or numpy_helper.to_array(zero).any():
            problems.append(Problem(graph, where, "Q/DQ zero point is not a constant 0: TensorRT quantizes "
                                    "symmetrically only (requantize with symmetric activations and weights)"))
        elif _type_name(zero.data_type) not in ("INT8", "FLOAT8E4M3FN", "INT4"):
            problems.append(Problem(graph, where, f"Q/DQ of type {_type_name(zero.data_type)}; TensorRT takes "
                                    "INT8, INT4 or FP8 (uint8 Q/DQ is onnxruntime's CPU flavour)"))
    return problems


def _check_if(node, graph: str) -> list[Problem]:
    """Both branches must produce outputs of the same element type and rank."""
    branches = {a.name: a.g for a in node.attribute if a.name in ("then_branch", "else_branch")}
    then, other = branches.get("then_branch"), branches.get("else_branch")
    if then is None or other is None:
        return []
    signature = lambda g: [(o.type.tensor_type.elem_type, len(o.type.tensor_type.shape.dim)) for o in g.output]  # noqa: E731
    if signature(then) != signature(other):
        return [Problem(graph, node.name or "If", "If branches produce outputs of different types or ranks; "
                        "TensorRT can't build it (export prefill and decode as separate graphs)")]
    return []


def _type_name(data_type: int) -> str:
    return onnx.TensorProto.DataType.Name(data_type)
