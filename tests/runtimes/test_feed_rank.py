"""Every backend binds a feed with the rank it was given: a 0-d input stays 0-d.

`np.ascontiguousarray` turns a 0-d array into shape (1,); TensorRT then refuses the rank-0 engine
input (Bark's `codebook_idx`), while onnxruntime and torch would hide it. Each check below sees
the shape the backend actually bound.
"""
import ast
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

from ttsx.recipes.spec import GraphSpec, TensorSpec, Tolerance
from ttsx.runtimes.onnxruntime_backend import OnnxruntimeSession
from ttsx.runtimes.session import host_array
from ttsx.runtimes.torch_backend import TorchSession

ROOT = Path(__file__).resolve().parents[2]
SPEC = GraphSpec("rank", "rank", inputs=(TensorSpec("x", "int64", ()),),
                 outputs=(TensorSpec("shape", "int64", ("rank",)),), tolerance=Tolerance(0, 0))


def test_host_array_keeps_the_rank_and_makes_arrays_contiguous():
    assert host_array(np.array(3, np.int64)).shape == ()
    strided = np.arange(6).reshape(2, 3).T
    out = host_array(strided)
    assert out.flags["C_CONTIGUOUS"] and out.shape == (3, 2) and np.array_equal(out, strided)


def test_onnxruntime_binds_a_0d_feed_as_0d(tmp_path):
    graph = helper.make_graph([helper.make_node("Shape", ["x"], ["shape"])], "rank",
                              [helper.make_tensor_value_info("x", TensorProto.INT64, [])],
                              [helper.make_tensor_value_info("shape", TensorProto.INT64, [None])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.save(model, tmp_path / "rank.onnx")
    with OnnxruntimeSession(tmp_path / "rank.onnx", SPEC) as session:
        assert session.run({"x": np.array(3, np.int64)})["shape"].tolist() == []


def test_torch_binds_a_0d_feed_as_0d():
    class Shape(torch.nn.Module):
        def forward(self, x):
            return torch.tensor(x.shape, dtype=torch.int64)

    with TorchSession(Shape(), SPEC) as session:
        assert session.run({"x": np.array(3, np.int64)})["shape"].tolist() == []


def test_no_runtime_uses_ascontiguousarray():
    """The TensorRT backend can't run here; its numpy-to-device path must go through host_array too."""
    for path in (ROOT / "runtimes").glob("*.py"):
        calls = [n.lineno for n in ast.walk(ast.parse(path.read_text()))
                 if isinstance(n, ast.Attribute) and n.attr == "ascontiguousarray"]
        assert not calls, f"{path.name}:{calls} uses np.ascontiguousarray (it makes 0-d arrays 1-d); use host_array"
