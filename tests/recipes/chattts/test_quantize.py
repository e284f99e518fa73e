"""chattts-tiny at fp16, int8, int8-qdq and int4: within the recipe's budgets, with RMSNorm kept fp32 in fp16."""
import onnx
import pytest

from ttsx.checks.parity import failures, format_table, run_parity


@pytest.mark.parametrize("precision", ["fp16", "int8", "int8-qdq", "int4"])
def test_chattts_precisions_meet_their_budgets(chattts_quantized, precision):
    rows = run_parity(chattts_quantized(precision))
    assert failures(rows) == [], format_table(failures(rows))
    assert {r.output for r in rows if r.metric == "choices agree" and r.passed} == {"refine tokens", "code tokens"}


def test_fp16_keeps_rmsnorm_and_the_audio_norms_in_fp32(chattts_quantized):
    root = chattts_quantized("fp16")
    gpt = onnx.load(str(root / "gpt.onnx"), load_external_data=False)
    producer = {out: node for node in gpt.graph.node for out in node.output}
    squares = [n for n in gpt.graph.node if n.op_type == "Pow"]
    assert squares
    for node in squares:  # RMSNorm's square reads a tensor cast to float32
        cast = producer[node.input[0]]
        assert cast.op_type == "Cast" and cast.attribute[0].i == onnx.TensorProto.FLOAT, node.name
    # the rotary embedding is GroupQueryAttention's (its positions are integers inside the op, never fp16): every
    # layer's node takes the same two stored cos/sin tables
    weights = {i.name: i for i in gpt.graph.initializer}
    attention = [n for n in gpt.graph.node if n.op_type == "GroupQueryAttention"]
    assert attention and all({a.name: a.i for a in n.attribute}.get("do_rotary") == 1 for n in attention)
    tables = {tuple(n.input[7:9]) for n in attention}
    assert len(tables) == 1 and all(name in weights for name in next(iter(tables)))


def test_int8_leaves_the_audio_path_fp32(chattts_quantized):
    import json

    manifest = json.loads((chattts_quantized("int8") / "manifest.json").read_text())
    precisions = {name: entry["precision"] for name, entry in manifest["graphs"].items()}
    assert precisions == {"embed_text": "fp32", "embed_code": "fp32", "gpt": "int8",
                          "code_heads": "int8", "text_head": "int8", "decoder": "fp32", "dvae": "fp32", "vocos": "fp32"}


def test_int4_decodes_the_gpt_on_int4_and_keeps_the_rest_int8_or_fp32(chattts_quantized):
    import json

    graphs = json.loads((chattts_quantized("int4") / "manifest.json").read_text())["graphs"]
    assert {name: entry["precision"] for name, entry in graphs.items()} == {
        "embed_text": "fp32", "embed_code": "fp32", "gpt": "int4", "code_heads": "int8", "text_head": "int8",
        "decoder": "fp32", "dvae": "fp32", "vocos": "fp32"}
    assert [name for name, entry in graphs.items() if "prefill" in entry] == ["gpt"]
