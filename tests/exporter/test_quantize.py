"""`ttsx quantize` on the test-only toy family: what each precision makes of a graph, the manifest it writes, what it
refuses, and that it never writes into its source."""
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from ttsx.artifact.manifest import load_artifact
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.exporter.convert import weight_matmuls
from ttsx.app.quantize import quantize_artifact
from ttsx.exporter.quantize import QuantizeOptions

PRECISIONS = ("fp16", "int8", "int8-qdq", "int4")


def _graph(root, name):
    return onnx.load(str(root / f"{name}.onnx"))


@pytest.mark.parametrize("precision", PRECISIONS)
def test_manifest_records_precision_and_method(toy_quantize, precision, toy_artifact):
    quantized = toy_quantize(precision)
    artifact = load_artifact(quantized)
    manifest = artifact.manifest
    assert manifest["precision"] == quantized.name
    assert manifest["quantization"]["method"]
    assert manifest["quantization"]["derived_from"]["path"] == str(toy_artifact.absolute())
    assert manifest["source"] == load_artifact(toy_artifact).manifest["source"]
    vocoder = manifest["graphs"]["vocoder"]["precision"]
    assert vocoder == ("fp16" if quantized.name == "fp16" else "fp32")  # Conversion(int8=False): kept fp32 for int8
    calibration = manifest["quantization"]["calibration"]
    assert (calibration is not None) == (quantized.name == "int8-qdq")


def test_fp16_graphs_are_fp16_inside_with_fp32_logits(toy_quantize):
    quantized = toy_quantize("fp16")
    model = _graph(quantized, "lm")
    io = {v.name: v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert io["logits"] == onnx.TensorProto.FLOAT
    assert io["past_key_values.0.key"] == io["present.0.key"] == onnx.TensorProto.FLOAT16
    weights = [i for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)
               and np.prod(i.dims) > 1000]
    assert weights and all(i.data_type == onnx.TensorProto.FLOAT16 for i in weights)
    casts = {n.output[0]: n for n in model.graph.node if n.op_type == "Cast"}
    norms = [n for n in model.graph.node if n.op_type == "LayerNormalization"]
    assert norms and all(casts[n.input[0]].attribute[0].i == onnx.TensorProto.FLOAT for n in norms)


def test_int8_graphs_use_integer_matmuls_for_every_weight(toy_quantize):
    quantized = toy_quantize("int8")
    model = _graph(quantized, "lm")
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("MatMulInteger") > 0
    assert weight_matmuls(model) == []  # no float MatMul against a weight is left


def test_int4_causal_graphs_decode_on_int4_weights_and_prefill_on_int8(toy_quantize):
    """int4: the cached graph's decode file has MatMulNBits (int4, blocks of 32) for every weight MatMul, its prefill
    file int8 MatMulInteger; the manifest records both, and the loaded artifact opens them as one phased session."""
    from ttsx.runtimes.factory import open_session
    from ttsx.runtimes.phased import PhasedSession

    quantized = toy_quantize("int4")
    entry = json.loads((quantized / "manifest.json").read_text())["graphs"]["lm"]
    assert entry["precision"] == "int4" and entry["prefill"] == {"file": "lm.prefill.onnx", "precision": "int8"}
    decode = _graph(quantized, "lm")
    nbits = [n for n in decode.graph.node if n.op_type == "MatMulNBits"]
    assert nbits and weight_matmuls(decode) == []
    attrs = {a.name: a.i for a in nbits[0].attribute}
    assert (attrs["bits"], attrs["block_size"], attrs["accuracy_level"]) == (4, 32, 4)
    prefill = _graph(quantized, "lm.prefill")
    assert "MatMulInteger" in {n.op_type for n in prefill.graph.node} and weight_matmuls(prefill) == []
    artifact = load_artifact(quantized)
    with open_session(artifact, "lm") as session:
        assert isinstance(session, PhasedSession)
        assert session.prefill.spec == session.step.spec == artifact.graph_spec("lm")


def test_a_missing_or_unlisted_prefill_graph_is_refused(toy_quantize, tmp_path):
    import shutil

    copy = tmp_path / "int4"
    shutil.copytree(toy_quantize("int4"), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["files"]["lm.prefill.onnx"]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="lm.prefill.onnx is not listed"):
        load_artifact(copy)


def test_quantizing_needs_an_fp32_source(toy_quantize, tmp_path):
    quantized = toy_quantize("fp16")
    with pytest.raises(ArtifactError, match="quantize from the fp32 artifact"):
        quantize_artifact(QuantizeOptions(quantized, "int8", tmp_path / "again"))


def test_bad_precision_and_in_place_output_are_refused(toy_artifact, tmp_path):
    with pytest.raises(TtsxError, match="unknown precision 'int3'"):
        quantize_artifact(QuantizeOptions(toy_artifact, "int3", tmp_path / "x"))
    with pytest.raises(TtsxError, match="fp32 is what `ttsx export` writes"):
        quantize_artifact(QuantizeOptions(toy_artifact, "fp32", tmp_path / "x"))
    link = tmp_path / "link"
    link.symlink_to(toy_artifact)
    for out in (toy_artifact, link, toy_artifact / "inside", toy_artifact.parent):
        with pytest.raises(ArtifactError, match="replace or write into the source artifact"):
            quantize_artifact(QuantizeOptions(toy_artifact, "int8", out, force=True))
    assert json.loads((toy_artifact / "manifest.json").read_text())["precision"] == "fp32"


def test_a_precision_the_family_has_no_budget_for_is_refused(toy_artifact, tmp_path, monkeypatch):
    recipe = load_artifact(toy_artifact).recipe
    monkeypatch.delitem(recipe.budgets, "int4")
    with pytest.raises(TtsxError, match="recipe 'toy-tiny' has no accuracy budget for int4"):
        quantize_artifact(QuantizeOptions(toy_artifact, "int4", tmp_path / "x"))
    assert not (tmp_path / "x").exists()


def test_quantizers_write_their_scratch_files_outside_the_source(toy_artifact, tmp_path, monkeypatch):
    import onnx.shape_inference

    written, infer = [], onnx.shape_inference.infer_shapes_path
    monkeypatch.setattr(onnx.shape_inference, "infer_shapes_path",
                        lambda src, out="", *a, **k: written.append(out or src) or infer(src, out, *a, **k))
    quantize_artifact(QuantizeOptions(toy_artifact, "int8", tmp_path / "int8"))
    assert written and not [p for p in written if str(toy_artifact.resolve()) in str(Path(p).resolve())]


@pytest.mark.parametrize("precision", PRECISIONS)
def test_quantizing_writes_nothing_into_the_source(toy_quantize, toy_artifact, precision):
    toy_quantize(precision)  # onnxruntime's quantizers drop <graph>-inferred.onnx beside the graph they read
    listed = set(json.loads((toy_artifact / "manifest.json").read_text())["files"]) | {"manifest.json"}
    assert {p.relative_to(toy_artifact).as_posix() for p in toy_artifact.rglob("*")} == listed


def test_worst_rows_keep_the_largest_value_and_any_failure():
    from ttsx.checks.parity import ParityRow, worst_rows

    rows = [ParityRow("g", f"c{i}", "logits", "rel L2", v, "<= 0.1", v <= 0.1) for i, v in enumerate((0.02, 0.3, 0.05))]
    (row,) = worst_rows("g", "draws", rows)
    assert row.value == 0.3 and not row.passed and row.case == "draws (worst of 3)"


def test_a_linear_layer_exported_as_gemm_is_quantized_too(toy_quantize, toy_artifact):
    """GPT-2's Conv1D layers export as Gemm; both int8 flavours quantize them like MatMuls (heads and the
    projection after attention stay float in int8-qdq)."""
    source = _graph(toy_artifact, "lm")
    gemms = [n for n in source.graph.node if n.op_type == "Gemm"]
    assert len(gemms) == 8  # 2 layers x (attention in, attention out, MLP in, MLP out)
    int8 = [n.op_type for n in _graph(toy_quantize("int8"), "lm").graph.node]
    assert int8.count("MatMulInteger") == len(gemms) + 1 and "Gemm" not in int8  # + the LM head
    qdq = _graph(toy_quantize("int8-qdq"), "lm")
    dequantized = {n.output[0] for n in qdq.graph.node if n.op_type == "DequantizeLinear"}
    quantized = [n for n in qdq.graph.node if n.op_type == "MatMul" and n.input[1] in dequantized]
    assert len(quantized) == len(gemms) - 2  # the two attention output projections stay float


def test_the_exporter_alone_runs_no_pipeline_for_calibration(toy_artifact, tmp_path):
    """int8-qdq needs feeds recorded by running the pipeline, which the exporter layer does not do itself."""
    from ttsx.base.errors import TtsxError
    from ttsx.exporter.quantize import quantize_artifact as convert

    with pytest.raises(TtsxError, match="runs the pipeline to record them"):
        convert(QuantizeOptions(toy_artifact, "int8-qdq", tmp_path / "qdq"))
    assert not (tmp_path / "qdq").exists()


def test_a_graph_kept_fp32_is_copied_and_the_mix_is_checked(toy_artifact, tmp_path):
    """--keep-fp32 GRAPH: that graph's files are the fp32 artifact's, the others quantized; parity judges the mix."""
    import json

    from click.testing import CliRunner

    from ttsx.app.cli import main
    from ttsx.checks.parity import run_parity

    out = tmp_path / "mix"
    result = CliRunner().invoke(main, ["quantize", str(toy_artifact), "--precision", "int8", "-o", str(out),
                                       "--keep-fp32", "vocoder"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert {n: g["precision"] for n, g in manifest["graphs"].items()} == {"lm": "int8", "vocoder": "fp32"}
    assert manifest["quantization"]["kept_fp32"] == ["vocoder"]
    vocoder = manifest["graphs"]["vocoder"]["file"]
    assert (out / vocoder).read_bytes() == (toy_artifact / vocoder).read_bytes()
    rows = run_parity(out)
    assert rows and all(r.passed is not False for r in rows)
    for args, message in ((["--keep-fp32", "nope"], "no such graph"), (["--keep-fp32", "lm", "--precision", "fp16"],
                                                                       "mixes precisions in int8")):
        precision = [] if "--precision" in args else ["--precision", "int8"]
        bad = CliRunner().invoke(main, ["quantize", str(toy_artifact), *precision, *args, "-o", str(tmp_path / "x")])
        assert bad.exit_code == 1 and message in bad.output


def test_matmuls_kept_fp32_by_name_stay_float_in_an_int8_graph(toy_artifact, tmp_path):
    """--keep-fp32 GRAPH:REGEX (int8): the matching weight MatMuls stay MatMul on fp32 weights, the rest are
    quantized, the manifest names them, parity judges the mix; a pattern that matches nothing, or one given with
    another precision, is refused before anything is written."""
    import json

    import onnx
    from click.testing import CliRunner

    from ttsx.app.cli import main
    from ttsx.checks.parity import run_parity

    def integer_matmuls(root: Path) -> int:
        graph = onnx.load(str(root / "lm.onnx"), load_external_data=False)
        return sum(n.op_type == "MatMulInteger" for n in graph.graph.node)

    whole = tmp_path / "whole"
    quantize_artifact(QuantizeOptions(toy_artifact, "int8", whole))
    assert integer_matmuls(whole) > 1  # the pattern below keeps one of several
    out = tmp_path / "mix"
    result = CliRunner().invoke(main, ["quantize", str(toy_artifact), "--precision", "int8", "-o", str(out),
                                       "--keep-fp32", "lm:lm_head"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["graphs"]["lm"]["precision"] == "int8"
    assert manifest["graphs"]["lm"]["kept_fp32_matmuls"] == ["/lm_head/MatMul"]
    assert manifest["quantization"]["kept_fp32"] == ["lm:lm_head"]
    ops = {n.name: n.op_type for n in onnx.load(str(out / "lm.onnx"), load_external_data=False).graph.node}
    assert ops.get("/lm_head/MatMul") == "MatMul"  # kept: the float MatMul under its own name
    assert integer_matmuls(out) == integer_matmuls(whole) - 1
    rows = run_parity(out)
    assert rows and all(r.passed is not False for r in rows)
    for args, message in ((["--precision", "int8", "--keep-fp32", "lm:no_such_node"], "no weight MatMul of lm matches"),
                          (["--precision", "int4", "--keep-fp32", "lm:lm_head"], "for --precision int8"),
                          (["--precision", "int8", "--keep-fp32", "lm:("], "not a regular expression")):
        bad = CliRunner().invoke(main, ["quantize", str(toy_artifact), *args, "-o", str(tmp_path / "x")])
        assert bad.exit_code == 1 and message in bad.output, bad.output
        assert not (tmp_path / "x").exists()
