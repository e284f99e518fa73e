"""The exporter's graph rewrites (exporter/graph_passes.py) and the readiness rules for what they fix."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

from ttsx.exporter.graph_passes import elu_as_exp, shape_math_nodes
from ttsx.exporter.tensorrt_check import check_graph


def run(model, **feed):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]


def test_elu_becomes_where_and_exp_with_the_same_values():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])
    graph = helper.make_graph([helper.make_node("Elu", ["x"], ["y"], name="act", alpha=0.7)], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    values = np.concatenate([np.linspace(-200, 200, 4001), [-1e-7, 0.0, 1e-7, 88.0, -1e30]]).astype(np.float32)
    before = run(model, x=values)
    assert elu_as_exp(model) == 1
    onnx.checker.check_model(model)
    assert "Elu" not in {n.op_type for n in model.graph.node}
    after = run(model, x=values)
    assert np.isfinite(after).all()  # exp of min(x, 0): never inf
    np.testing.assert_allclose(after, before, rtol=1e-6, atol=1e-7)
    assert elu_as_exp(model) == 0


def test_the_bark_codec_has_no_elu(tiny_artifact):
    ops = {n.op_type for n in onnx.load(tiny_artifact / "codec.onnx", load_external_data=False).graph.node}
    assert "Elu" not in ops and "Where" in ops


def test_fp16_graphs_keep_shape_arithmetic_fp32_and_the_rule_catches_those_that_do_not(tiny_artifact, quantize,
                                                                                      tmp_path):
    from onnxruntime.transformers.float16 import convert_float_to_float16

    fp32 = onnx.load(str(tiny_artifact / "codec.onnx"))
    kept = shape_math_nodes(fp32)
    casts = {n.name for n in fp32.graph.node if n.op_type == "Cast"}
    assert kept and {"Shape", "Conv"}.isdisjoint({n.op_type for n in fp32.graph.node if n.name in set(kept)})
    assert casts & set(kept)  # the padding lengths' int -> float casts
    fp16 = quantize("fp16")
    for graph in ("semantic", "coarse", "fine", "codec"):
        assert [p for p in check_graph(fp16 / f"{graph}.onnx", graph) if "shape arithmetic" in p.message] == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = convert_float_to_float16(fp32, keep_io_types=["waveform"])  # the converter's default
    onnx.save(plain, str(tmp_path / "codec.onnx"), save_as_external_data=True, location="codec.onnx.data")
    flagged = [p for p in check_graph(tmp_path / "codec.onnx", "codec") if "shape arithmetic" in p.message]
    assert flagged and "keep it fp32" in flagged[0].message
