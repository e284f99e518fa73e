"""fp16, int8 and int8-qdq artifacts of bark-tiny: made from the fp32 export, checked against fp32 PyTorch."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from ttsx.artifact.manifest import load_artifact
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.exporter.precision import attention_projections, weight_matmuls
from ttsx.exporter.quantize import QuantizeOptions, quantize_artifact
from ttsx.checks.parity import failures, format_table, run_parity
from ttsx.recipes.precision import Budget

PRECISIONS = ("fp16", "int8", "int8-qdq")


def _graph(root, name):
    return onnx.load(str(root / f"{name}.onnx"))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_every_precision_meets_its_budget_per_graph_and_end_to_end(quantize, precision):
    quantized = quantize(precision)
    rows = run_parity(quantized)
    assert failures(rows) == [], format_table(failures(rows))
    metrics = {r.metric for r in rows}
    assert {"rel L2", "top-1 agree", "tokens agree", "choices agree"} <= metrics
    stages = {"semantic tokens", "coarse tokens", "fine tokens"}
    # the gate is teacher-forced; free-running agreement is reported, never judged
    assert {r.output for r in rows if r.metric == "choices agree" and r.passed} == stages
    assert {r.output for r in rows if r.metric == "tokens agree" and r.passed is None} == stages


@pytest.mark.parametrize("precision", PRECISIONS)
def test_manifest_records_precision_and_method(quantize, precision, tiny_artifact):
    quantized = quantize(precision)
    artifact = load_artifact(quantized)
    manifest = artifact.manifest
    assert manifest["precision"] == quantized.name
    assert manifest["quantization"]["method"]
    assert manifest["quantization"]["derived_from"]["path"] == str(tiny_artifact.absolute())
    assert manifest["source"] == load_artifact(tiny_artifact).manifest["source"]
    codec = manifest["graphs"]["codec"]["precision"]
    assert codec == ("fp16" if quantized.name == "fp16" else "fp32")  # EnCodec kept fp32 for int8
    calibration = manifest["quantization"]["calibration"]
    assert (calibration is not None) == (quantized.name == "int8-qdq")


def test_fp16_graphs_are_fp16_inside_with_fp32_logits(quantize):
    quantized = quantize("fp16")
    model = _graph(quantized, "coarse")
    io = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert io["logits"] == onnx.TensorProto.FLOAT
    assert io["past_key_values.0.key"] == io["present.0.key"] == onnx.TensorProto.FLOAT16
    weights = [i for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
               and np.prod(i.dims) > 1000]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    casts = {n.output[0]: n for n in model.graph.node if n.op_type == "Cast"}
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert norms and all(casts[n.input[0]].attribute[0].i == onnx.TensorProto.FLOAT for n in norms)


def test_qdq_graphs_are_symmetric_int8_with_zero_points_zero(quantize, tiny_artifact):
    quantized = quantize("int8-qdq")
    for name in ("semantic", "coarse", "fine"):
        model = _graph(quantized, name)
        inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
        assert qdq, name
        for node in qdq:
            zero_point = inits[node.input[2]]
            assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
            assert (inits[node.input[1]] > 0).all(), node.name
        dequantized = {n.output[0] for n in qdq if n.op_type == "DequantizeLinear"}
        matmuls = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in dequantized]
        source = _graph(tiny_artifact, name)
        outputs = {o.name for o in source.graph.output}
        heads = [n.name for n in source.graph.node if n.name in weight_matmuls(source) and set(n.output) & outputs]
        # Bark names the projection after attention `out_proj` (the MLP's is `mlp/out_proj`): one per layer
        after_attention = [n for n in weight_matmuls(source) if "out_proj" in n and "mlp" not in n]
        assert attention_projections(source) == set(after_attention) and after_attention, name
        float_kept = len(heads) + len(after_attention)
        assert len(matmuls) == len(weight_matmuls(source)) - float_kept > 0, name  # heads, attention outputs: float
        assert sorted(weight_matmuls(model)) == sorted(heads + after_attention), name


def test_int8_graphs_use_integer_matmuls_for_every_weight(quantize):
    quantized = quantize("int8")
    model = _graph(quantized, "coarse")
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulInteger") > 0
    assert weight_matmuls(model) == []  # no float MatMul against a weight is left


@pytest.mark.parametrize("precision", PRECISIONS)
def test_a_budget_that_is_exceeded_fails_parity(quantize, precision, monkeypatch):
    quantized = quantize(precision)
    artifact = load_artifact(quantized)
    monkeypatch.setitem(artifact.recipe.budgets, quantized.name, Budget(rel_error=1e-7, top1=1.0, tokens=1.0))
    rows = run_parity(quantized, graphs=("coarse",))
    assert any(not r.passed and r.metric == "rel L2" for r in rows)


def test_quantizing_needs_an_fp32_source(quantize, tmp_path):
    quantized = quantize("fp16")
    with pytest.raises(ArtifactError, match="quantize from the fp32 artifact"):
        quantize_artifact(QuantizeOptions(quantized, "int8", tmp_path / "again"))


def test_bad_precision_and_in_place_output_are_refused(tiny_artifact, tmp_path):
    with pytest.raises(TtsxError, match="unknown precision 'int4'"):
        quantize_artifact(QuantizeOptions(tiny_artifact, "int4", tmp_path / "x"))
    with pytest.raises(TtsxError, match="fp32 is what `ttsx export` writes"):
        quantize_artifact(QuantizeOptions(tiny_artifact, "fp32", tmp_path / "x"))
    link = tmp_path / "link"
    link.symlink_to(tiny_artifact)
    for out in (tiny_artifact, link, tiny_artifact / "inside", tiny_artifact.parent):
        with pytest.raises(ArtifactError, match="replace or write into the source artifact"):
            quantize_artifact(QuantizeOptions(tiny_artifact, "int8", out, force=True))
    assert json.loads((tiny_artifact / "manifest.json").read_text())["precision"] == "fp32"


def test_quantizers_write_their_scratch_files_outside_the_source(tiny_artifact, tmp_path, monkeypatch):
    import onnx.shape_inference

    written, infer = [], onnx.shape_inference.infer_shapes_path
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes_path",
                        lambda src, out="", *a, **k: written.append(out or src) or infer(src, out, *a, **k))
    quantize_artifact(QuantizeOptions(tiny_artifact, "int8", tmp_path / "int8"))
    assert written and not [p for p in written if str(tiny_artifact.resolve()) in str(Path(p).resolve())]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_quantizing_writes_nothing_into_the_source(quantize, tiny_artifact, precision):
    quantize(precision)  # onnxruntime's quantizers drop <graph>-inferred.onnx beside the graph they read
    listed = set(json.loads((tiny_artifact / "manifest.json").read_text())["files"]) | {"manifest.json"}
    assert {p.relative_to(tiny_artifact).as_posix() for p in tiny_artifact.rglob("*")} == listed


def test_top1_pools_every_draw_and_later_draws_are_held_to_the_budget(quantize, monkeypatch):
    from ttsx.checks import parity

    quantized = quantize("int8")
    rows = run_parity(quantized, graphs=("coarse",))
    top1 = next(r for r in rows if r.metric == "top-1 agree")
    draws = parity.TOP1_DRAWS
    assert draws > 1 and f"x {draws} draws" in top1.case
    monkeypatch.setattr(parity, "TOP1_DRAWS", 1)
    single = next(r for r in run_parity(quantized, graphs=("coarse",)) if r.metric == "top-1 agree")
    count = lambda row: int(row.case.split("(")[1].split()[0])  # noqa: E731  "... (N rows)"
    assert count(top1) == draws * count(single) > 0
    drawn = [r for r in rows if r.case.startswith("every case, draws 2-")]
    assert {r.output for r in drawn} == {"logits", "present.*"} and all(r.passed for r in drawn)


def test_top1_draws_stop_once_the_pool_is_large(quantize):
    from ttsx.checks import parity

    assert parity.top1_draws(11) == parity.TOP1_DRAWS and parity.top1_draws(parity.TOP1_ROWS) == 1
    rows = run_parity(quantize("int8"), graphs=("fine",))
    top1 = next(r for r in rows if r.metric == "top-1 agree")
    assert "x 1 draws" in top1.case and not [r for r in rows if r.case.startswith("every case, draws 2-")]


def test_worst_rows_keep_the_largest_value_and_any_failure():
    from ttsx.checks.parity import ParityRow, worst_rows

    rows = [ParityRow("g", f"c{i}", "logits", "rel L2", v, "<= 0.1", v <= 0.1) for i, v in enumerate((0.02, 0.3, 0.05))]
    (row,) = worst_rows("g", "draws", rows)
    assert row.value == 0.3 and not row.passed and row.case == "draws (worst of 3)"
