"""Manifests and graph files that lie: refused at load with one line naming the key or the file (toy family)."""
import json

import onnx
import pytest
from onnx import TensorProto, helper

from ttsx.artifact.manifest import load_artifact, sha256_file
from ttsx.base.errors import ArtifactError


def _edit(root, change):
    manifest = json.loads((root / "manifest.json").read_text())
    change(manifest)
    (root / "manifest.json").write_text(json.dumps(manifest))


def _rehash(root):
    _edit(root, lambda m: m.update(files={name: sha256_file(root / name) for name in m["files"]}))


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(graphs=["lm"]), "key 'graphs' must be an object"),
    (lambda m: m["graphs"].update(lm="lm.onnx"), "key 'graphs.lm' must be an object"),
    (lambda m: m["graphs"]["lm"].pop("inputs"), "key 'graphs.lm.inputs' is missing"),
    (lambda m: m["graphs"]["lm"]["inputs"][0].update(shape="batch"), r"key 'graphs.lm.inputs\[0\].shape' must be"),
    (lambda m: m["graphs"]["lm"]["tolerance"].update(atol=True), "key 'graphs.lm.tolerance.atol' must be"),
    (lambda m: m.update(files=[]), "key 'files' must be an object"),
    (lambda m: m.update(voices={"a": 3}), "key 'voices.a' must be a string"),
    (lambda m: m.pop("source"), "key 'source' is missing"),
])
def test_a_malformed_manifest_names_the_key(toy_copy, change, message):
    _edit(toy_copy, change)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(toy_copy)


def test_deeply_nested_or_huge_manifests_are_refused(toy_copy):
    (toy_copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        load_artifact(toy_copy)


def test_a_graph_of_other_io_is_refused_at_load(toy_copy):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    model.ir_version = 10
    onnx.save(model, str(toy_copy / "vocoder.onnx"))
    _rehash(toy_copy)
    with pytest.raises(ArtifactError, match=r"vocoder.onnx: the graph's inputs are not those of 'vocoder' .*inputs 0: x float32 rank 1 in the file, "
                       "codes int64 rank 2 in the spec"):
        load_artifact(toy_copy)


def test_two_graphs_naming_one_file_are_refused(toy_copy):
    _edit(toy_copy, lambda m: m["graphs"]["vocoder"].update(file=m["graphs"]["lm"]["file"]))
    with pytest.raises(ArtifactError, match="name the same file lm.onnx"):
        load_artifact(toy_copy)


def test_a_data_file_named_as_a_graph_is_refused(toy_copy):
    _edit(toy_copy, lambda m: m["graphs"]["vocoder"].update(file="vocoder.onnx.data"))
    with pytest.raises(ArtifactError, match=r"vocoder.onnx.data \(graph 'vocoder'\) is not an ONNX model"):
        load_artifact(toy_copy)


def test_an_unreadable_ir_version_is_refused(toy_copy):
    model = onnx.load(str(toy_copy / "vocoder.onnx"), load_external_data=False)
    model.ir_version = 99
    onnx.save(model, str(toy_copy / "vocoder.onnx"))
    _rehash(toy_copy)
    with pytest.raises(ArtifactError, match="ONNX IR version 99; ttsx reads versions 3 to"):
        load_artifact(toy_copy)


def test_a_format_3_artifact_still_loads_and_older_ones_are_refused(toy_copy):
    """Version 3 graph entries named a `kind` and had no `choices`; the recipe holds both now."""
    def to_v3(m):
        m["format_version"] = 3
        for entry in m["graphs"].values():
            entry["kind"] = entry.pop("choices") and "causal" or "vocoder"
    _edit(toy_copy, to_v3)
    assert load_artifact(toy_copy).graph_spec("lm").choices == ("logits",)
    _edit(toy_copy, lambda m: m.update(format_version=2))
    with pytest.raises(ArtifactError, match="format_version 2; this ttsx reads 3 or 4"):
        load_artifact(toy_copy)
