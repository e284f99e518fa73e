"""torch -> ONNX for one graph spec, weights as external data kept beside the graph."""
from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch

from ttsx.base.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from ttsx.recipes.kv_attention import custom_domains, finish_export

from .graph_passes import elu_as_exp

OPSET = 18  # LayerNormalization is one op from 17; 18 is well supported by ORT and TensorRT's parser
ONNX_DTYPES = {"int64": onnx.TensorProto.INT64, "int32": onnx.TensorProto.INT32, "float32": onnx.TensorProto.FLOAT,
               "float16": onnx.TensorProto.FLOAT16, "bool": onnx.TensorProto.BOOL}


def dynamic_axes(spec: GraphSpec) -> dict[str, dict[int, str]]:
    """Symbolic axes of every input and output, named as in the spec."""
    return {t.name: {i: d for i, d in enumerate(t.shape) if isinstance(d, str)}
            for t in spec.inputs + spec.outputs}


def export_graph(module: torch.nn.Module, spec: GraphSpec, feed: dict[str, np.ndarray], out_dir: Path,
                 opset: int = OPSET, kv_cache: str = "onnxruntime") -> list[str]:
    """Trace `module` on `feed` into out_dir/NAME.onnx (+ NAME.onnx.data); return the file names."""
    args = tuple(torch.from_numpy(np.asarray(feed[name])) for name in spec.input_names)
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        traced = Path(tmp) / f"{spec.name}.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # TorchScript exporter deprecation and tracer notes
            torch.onnx.export(module, args, str(traced), input_names=spec.input_names,
                              output_names=spec.output_names, dynamic_axes=dynamic_axes(spec),
                              opset_version=opset, dynamo=False, do_constant_folding=True,
                              custom_opsets=custom_domains(spec, kv_cache))
        model = onnx.load(str(traced))
    finish_export(model)
    elu_as_exp(model)  # every builder's Elu (exporter/graph_passes.py)
    check_io(model, spec)
    return save_graph(model, spec.name, out_dir)


def save_graph(model: onnx.ModelProto, name: str, out_dir: Path) -> list[str]:
    """Write out_dir/NAME.onnx with its weights in NAME.onnx.data beside it; return the file names."""
    graph_file, data_file = f"{name}.onnx", f"{name}.onnx.data"
    onnx.save_model(model, str(out_dir / graph_file), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_file, size_threshold=1024, convert_attribute=True)
    onnx.checker.check_model(str(out_dir / graph_file))
    return [graph_file, data_file] if (out_dir / data_file).exists() else [graph_file]


def check_io(model: onnx.ModelProto, spec: GraphSpec) -> None:
    """The exported graph has exactly the spec's I/O names, dtypes and ranks."""
    for kind, values, tensors in (("input", model.graph.input, spec.inputs), ("output", model.graph.output,
                                                                               spec.outputs)):
        got = [(v.name, v.type.tensor_type.elem_type, len(v.type.tensor_type.shape.dim)) for v in values]
        want = [(t.name, ONNX_DTYPES[t.dtype], len(t.shape)) for t in tensors]
        if got != want:
            raise TtsxError(f"exported {spec.name} {kind}s {got} do not match the recipe's {want}; "
                            "this is a ttsx bug, please report it")
