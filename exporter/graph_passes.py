"""Rewrites of exported ONNX graphs that every builder takes, applied by the exporter for every family.

A real TensorRT build finds what the parser's op table can't; each failure found becomes a pass
here (so it holds for onnxruntime, TensorRT 11 and TensorRT for RTX alike) and a readiness rule
(exporter/tensorrt_check.py) for graphs made elsewhere:

    elu_as_exp        Elu(x, alpha) -> Where(x > 0, x, alpha * (Exp(Min(x, 0)) - 1)): TensorRT for RTX
                      1.7's Myelin fails shape inference on ONNX Elu ("There are 2 inputs. Expected 1").
    shape_math_nodes  the nodes that compute only from tensor shapes and constants (a padding length, say):
                      the fp16 conversion keeps them fp32, so an fp16 graph does no shape arithmetic in fp16
                      (exact only up to 2048 and inf past 65504; Myelin also refuses the float/half mix
                      the conversion leaves there).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

SHAPE_OPS = {"Shape", "Size"}


def all_nodes(graph):
    """Nodes of a graph and of every subgraph (If/Loop/Scan bodies)."""
    for node in graph.node:
        yield node
        for attribute in node.attribute:
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from all_nodes(sub)


def elu_as_exp(model: onnx.ModelProto) -> int:
    """Rewrite every float32 Elu of the main graph in place; how many. Exp(Min(x, 0)) never overflows."""
    nodes, changed = [], 0
    for node in model.graph.node:
        if node.op_type != "Elu" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        alpha = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "alpha"), 1.0)
        x, y, stem = node.input[0], node.output[0], node.name or f"Elu_{changed}"
        const = lambda suffix, value: numpy_helper.from_array(np.array(value, np.float32), f"{stem}/{suffix}")  # noqa: E731
        model.graph.initializer.extend([const("zero", 0.0), const("one", 1.0), const("alpha", alpha)])
        t = lambda suffix: f"{stem}/{suffix}_output"  # noqa: E731
        nodes += [
            helper.make_node("Greater", [x, f"{stem}/zero"], [t("positive")], name=f"{stem}/Greater"),
            helper.make_node("Min", [x, f"{stem}/zero"], [t("negative")], name=f"{stem}/Min"),
            helper.make_node("Exp", [t("negative")], [t("exp")], name=f"{stem}/Exp"),
            helper.make_node("Sub", [t("exp"), f"{stem}/one"], [t("expm1")], name=f"{stem}/Sub"),
            helper.make_node("Mul", [t("expm1"), f"{stem}/alpha"], [t("scaled")], name=f"{stem}/Mul"),
            helper.make_node("Where", [t("positive"), x, t("scaled")], [y], name=f"{stem}/Where"),
        ]
        changed += 1
    if changed:
        del model.graph.node[:]
        model.graph.node.extend(nodes)
    return changed


def node_kinds(model: onnx.ModelProto) -> list[str]:
    """Per node of the main graph, in order: "shape" (its inputs all derive from Shape/Size outputs and constants,
    at least one from a shape), "const" (constants only) or "data". Data flows in through graph inputs; a Shape of
    data is shape, not data."""
    kind = {i.name: "const" for i in model.graph.initializer}
    kind.update({i.name: "data" for i in model.graph.input if i.name not in kind})
    kinds = []
    for node in model.graph.node:
        inputs = {kind.get(i, "data") for i in node.input if i}
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            verdict = "data"  # If/Loop/Scan bodies read outer values their inputs don't list
        elif node.op_type in SHAPE_OPS:
            verdict = "shape"
        elif node.op_type == "Constant" or inputs <= {"const"}:
            verdict = "const"
        elif inputs <= {"const", "shape"}:
            verdict = "shape"
        else:
            verdict = "data"
        kinds.append(verdict)
        kind.update({o: verdict for o in node.output})
    return kinds


def shape_math_nodes(model: onnx.ModelProto) -> list[str]:
    """Names of the shape nodes (node_kinds) but Shape/Size themselves (they read data: keeping them fp32 would
    cast the data), with the Constant nodes that feed only shape nodes."""
    kinds = node_kinds(model)
    shape = {i for i, k in enumerate(kinds) if k == "shape"}
    consumers: dict[str, set[int]] = {}
    for index, node in enumerate(model.graph.node):
        for i in node.input:
            consumers.setdefault(i, set()).add(index)
    graph_outputs = {o.name for o in model.graph.output}
    feeding = {i for i, n in enumerate(model.graph.node) if kinds[i] == "const" and n.output
               and not graph_outputs & set(n.output)
               and all(consumers.get(o) and consumers[o] <= shape for o in n.output)}
    return [n.name for i, n in enumerate(model.graph.node)
            if i in shape | feeding and n.name and n.op_type not in SHAPE_OPS]


def drop_fp16_round_trips(model: onnx.ModelProto, fp32_nodes: set[str]) -> int:
    """Rewire Cast(to fp32) of Cast(to fp16) of a tensor made by one of `fp32_nodes` to that tensor, and drop the
    Casts left unused; how many were rewired. onnxruntime's fp16 converter wraps every node it keeps fp32 in such
    Casts, so two kept nodes in a row would still pass their value through fp16."""
    fp16, fp32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    to = lambda n: next((a.i for a in n.attribute if a.name == "to"), None)  # noqa: E731
    producer = {o: n for n in model.graph.node for o in n.output}
    made_fp32 = {o for n in model.graph.node if n.name in fp32_nodes for o in n.output}
    rename = {}
    for node in model.graph.node:
        if node.op_type != "Cast" or to(node) != fp32:
            continue
        down = producer.get(node.input[0])
        if down is not None and down.op_type == "Cast" and to(down) == fp16 and down.input[0] in made_fp32:
            rename[node.output[0]] = down.input[0]
    graph_outputs = {o.name for o in model.graph.output}
    rename = {k: v for k, v in rename.items() if k not in graph_outputs}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
    while True:  # drop Casts whose outputs nobody reads (subgraphs included)
        used = {i for n in all_nodes(model.graph) for i in n.input} | graph_outputs
        dead = [n for n in model.graph.node if n.op_type == "Cast" and not set(n.output) & used]
        if not dead:
            return len(rename)
        for n in dead:
            model.graph.node.remove(n)
