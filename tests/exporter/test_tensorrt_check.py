"""The TensorRT-readiness check (no TensorRT needed): every exported graph of every precision is checked."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from ttsx.artifact.manifest import load_artifact
from ttsx.app.quantize import quantize_artifact
from ttsx.exporter.quantize import QuantizeOptions
from ttsx.exporter.tensorrt_check import check_graph


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8-qdq"])
def test_tensorrt_flavoured_graphs_are_ready(tiny_tensorrt_artifact, tmp_path, precision):
    root = tiny_tensorrt_artifact if precision == "fp32" else quantize_artifact(
        QuantizeOptions(tiny_tensorrt_artifact, precision, tmp_path / precision))
    artifact = load_artifact(root)
    for name in artifact.graph_names:
        assert check_graph(artifact.graph_path(name), name) == []
        assert artifact.manifest["graphs"][name]["tensorrt_problems"] == []
    cache_updates = [n for n in onnx.load(str(artifact.graph_path("coarse")), load_external_data=False).graph.node
                     if n.op_type == "TensorScatter"]
    assert len(cache_updates) == 2 * 2  # key and value of each layer, in place


def test_onnxruntime_flavours_are_flagged_with_the_op_named(tiny_artifact, tmp_path):
    artifact = load_artifact(quantize_artifact(QuantizeOptions(tiny_artifact, "int8", tmp_path / "int8")))
    problems = artifact.manifest["graphs"]["coarse"]["tensorrt_problems"]
    assert problems and any("DynamicQuantizeLinear is not supported" in p for p in problems)
    assert any("com.microsoft::GroupQueryAttention" in p for p in problems)  # the onnxruntime cache flavour
    assert artifact.manifest["graphs"]["codec"]["tensorrt_problems"] == []  # kept fp32


def _save(tmp_path, nodes, inits, inputs, outputs, opset=18):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    path = tmp_path / "g.onnx"
    onnx.save(model, str(path))
    return path


def _qdq(zero_point: np.ndarray):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    inits = [numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(zero_point, "z")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="q"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq")]
    return nodes, inits, [x], [y]


@pytest.mark.parametrize("zero_point,message", [
    (np.array(3, np.int8), "zero point is not a constant 0"),
    (np.array(0, np.uint8), "Q/DQ of type UINT8"),
])
def test_asymmetric_or_uint8_qdq_is_flagged(tmp_path, zero_point, message):
    problems = check_graph(_save(tmp_path, *_qdq(zero_point)), "g")
    assert len(problems) == 2 and all(message in str(p) for p in problems)


def test_unsupported_op_dtype_opset_and_if_are_flagged(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    then = helper.make_graph([helper.make_node("Identity", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.DOUBLE, [2])])
    other = helper.make_graph([helper.make_node("Cast", ["x"], ["e"], to=TensorProto.FLOAT)], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    nodes = [helper.make_node("Greater", ["x", "x"], ["c0"]), helper.make_node("ReduceMin", ["c0"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="branchy", then_branch=then, else_branch=other),
             helper.make_node("Custom", ["x"], ["z"], name="custom", domain="my.ops")]
    text = "\n".join(str(p) for p in check_graph(_save(tmp_path, nodes, [], [x], [y], opset=8), "g"))
    assert "opset 8; TensorRT's parser takes 9..24" in text
    assert "x: graph input/output of type DOUBLE" in text
    assert "branchy: If branches produce outputs of different types" in text
    assert "custom-domain op my.ops::Custom" in text


def test_an_op_a_real_builder_fails_on_is_flagged(tmp_path):
    """Elu parses but TensorRT for RTX's Myelin fails on it; the check says so and what to export instead."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    model = helper.make_model(helper.make_graph([helper.make_node("Elu", ["x"], ["y"], alpha=1.0)], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    onnx.save(model, str(tmp_path / "elu.onnx"))
    (problem,) = check_graph(tmp_path / "elu.onnx", "elu")
    assert "Myelin" in str(problem) and "where(x > 0" in str(problem)
