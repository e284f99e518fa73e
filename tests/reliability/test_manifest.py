"""Manifests and graph files that lie: refused at load with one line naming the key or the file."""
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
    (lambda m: m.update(graphs=["fine"]), "key 'graphs' must be an object"),
    (lambda m: m["graphs"].update(fine="fine.onnx"), "key 'graphs.fine' must be an object"),
    (lambda m: m["graphs"]["fine"].pop("inputs"), "key 'graphs.fine.inputs' is missing"),
    (lambda m: m["graphs"]["fine"]["inputs"][0].update(shape="batch"), r"key 'graphs.fine.inputs\[0\].shape' must be"),
    (lambda m: m["graphs"]["fine"]["tolerance"].update(atol=True), "key 'graphs.fine.tolerance.atol' must be"),
    (lambda m: m.update(files=[]), "key 'files' must be an object"),
    (lambda m: m.update(voices={"a": 3}), "key 'voices.a' must be a string"),
    (lambda m: m.pop("source"), "key 'source' is missing"),
])
def test_a_malformed_manifest_names_the_key(tiny_copy, change, message):
    _edit(tiny_copy, change)
    with pytest.raises(ArtifactError, match=message):
        load_artifact(tiny_copy)


def test_deeply_nested_or_huge_manifests_are_refused(tiny_copy):
    (tiny_copy / "manifest.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ArtifactError, match="is not valid JSON"):
        load_artifact(tiny_copy)


def test_a_graph_of_other_io_is_refused_at_load(tiny_copy):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    model = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    model.ir_version = 10
    onnx.save(model, str(tiny_copy / "codec.onnx"))
    _rehash(tiny_copy)
    with pytest.raises(ArtifactError, match=r"codec.onnx: the graph's inputs are not those of 'codec' .*inputs 0: x float32 rank 1 in the file, "
                       "codes int64 rank 3 in the spec"):
        load_artifact(tiny_copy)


def test_two_graphs_naming_one_file_are_refused(tiny_copy):
    _edit(tiny_copy, lambda m: m["graphs"]["codec"].update(file=m["graphs"]["fine"]["file"]))
    with pytest.raises(ArtifactError, match="name the same file fine.onnx"):
        load_artifact(tiny_copy)


def test_a_data_file_named_as_a_graph_is_refused(tiny_copy):
    _edit(tiny_copy, lambda m: m["graphs"]["codec"].update(file="codec.onnx.data"))
    with pytest.raises(ArtifactError, match=r"codec.onnx.data \(graph 'codec'\) is not an ONNX model"):
        load_artifact(tiny_copy)


def test_an_unreadable_ir_version_is_refused(tiny_copy):
    model = onnx.load(str(tiny_copy / "codec.onnx"), load_external_data=False)
    model.ir_version = 99
    onnx.save(model, str(tiny_copy / "codec.onnx"))
    _rehash(tiny_copy)
    with pytest.raises(ArtifactError, match="ONNX IR version 99; ttsx reads versions 3 to"):
        load_artifact(tiny_copy)
