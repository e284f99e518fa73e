"""chattts-tiny: every graph against ChatTTS's modules, ready for TensorRT, and a broken graph fails."""
import json

import numpy as np
import onnx

from ttsx.artifact.manifest import sha256_file
from ttsx.checks.parity import run_parity

GRAPHS = {"embed_text", "embed_code", "gpt", "code_heads", "text_head", "decoder", "dvae", "vocos"}


def test_every_graph_matches_chattts_and_moves_with_every_input(chattts_artifact):
    rows = run_parity(chattts_artifact)
    assert {r.graph for r in rows} == GRAPHS | {"end to end"}
    assert [r for r in rows if not r.passed] == []
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by"}
    assert {("gpt", "inputs_embeds changed"), ("gpt", "lengths changed"), ("gpt", "cache_lengths changed"),
            ("gpt", "past_key_values.* changed"), ("dvae", "codes changed"), ("vocos", "mel changed")} <= moved
    assert {r.output for r in rows if r.graph == "end to end"} == {"refine tokens", "code tokens"}


def test_the_tensorrt_flavour_is_ready_matches_chattts_and_has_no_complex_or_dft(chattts_tensorrt_artifact):
    out = chattts_tensorrt_artifact
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kv_cache"] == "tensorrt"
    assert {name: entry["tensorrt_problems"] for name, entry in manifest["graphs"].items()} == dict.fromkeys(GRAPHS, [])
    ops = {n.op_type for n in onnx.load(out / "vocos.onnx", load_external_data=False).graph.node}
    assert not ops & {"DFT", "STFT"} and "MatMul" in ops
    rows = run_parity(out, graphs=("gpt",))  # TensorScatter and masked attention, run by onnxruntime
    assert rows and all(r.passed for r in rows)


def test_parity_fails_on_a_wrong_vocoder(chattts_artifact, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(chattts_artifact, copy)
    model = onnx.load(copy / "vocos.onnx")
    for init in model.graph.initializer:
        values = onnx.numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size > 1000:
            init.CopyFrom(onnx.numpy_helper.from_array(values * 1.05, init.name))
    onnx.save_model(model, copy / "vocos.onnx", save_as_external_data=True, location="vocos.onnx.data")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(copy / name) for name in manifest["files"]}
    (copy / "manifest.json").write_text(json.dumps(manifest))
    compared = [r for r in run_parity(copy, graphs=("vocos",)) if r.metric != "moved by"]
    assert compared and not any(r.passed for r in compared)
