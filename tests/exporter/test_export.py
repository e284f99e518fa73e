import json

import onnx
import pytest

from ttsx.artifact.manifest import load_artifact, sha256_file
from ttsx.base.errors import ArtifactError
from ttsx.exporter import export as export_module
from ttsx.exporter.export import ExportOptions, export_artifact
from ttsx.recipes.source import ModelSource
from ttsx.recipes import get_recipe

RANDOM = ModelSource("random", seed=0)


def test_manifest_lists_every_file_with_its_hash(toy_artifact):
    manifest = json.loads((toy_artifact / "manifest.json").read_text())
    on_disk = {p.relative_to(toy_artifact).as_posix() for p in toy_artifact.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert sha256_file(toy_artifact / name) == digest
    assert manifest["source"]["random_weights"] is True and manifest["source"]["seed"] == 0
    assert manifest["precision"] == "fp32" and manifest["opset"] == 18
    assert {"torch", "transformers", "onnx", "onnxruntime"} <= set(manifest["versions"])


def test_graph_io_matches_recipe(toy_artifact):
    recipe = get_recipe("toy-tiny")
    for spec in recipe.graphs():
        model = onnx.load(toy_artifact / f"{spec.name}.onnx", load_external_data=False)
        assert [i.name for i in model.graph.input] == spec.input_names
        assert [o.name for o in model.graph.output] == spec.output_names
        dims = [d.dim_param or d.dim_value for d in model.graph.input[-1].type.tensor_type.shape.dim]
        assert dims == list(spec.inputs[-1].shape)


def test_weights_are_external_data_inside_the_artifact(toy_artifact):
    for spec in get_recipe("toy-tiny").graphs():
        model = onnx.load(toy_artifact / f"{spec.name}.onnx", load_external_data=False)
        locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
        assert locations == {f"{spec.name}.onnx.data"}


def test_existing_output_needs_force(toy_artifact):
    with pytest.raises(ArtifactError, match="--force"):
        export_artifact(ExportOptions("toy-tiny", RANDOM, toy_artifact))


def test_force_never_replaces_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(ArtifactError, match="not a ttsx artifact"):
        export_artifact(ExportOptions("toy-tiny", RANDOM, tmp_path / "mine", force=True))
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_interrupted_export_leaves_no_artifact(tmp_path, monkeypatch):
    calls = []
    real = export_module.export_graph

    def fail_on_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "export_graph", fail_on_second)
    with pytest.raises(KeyboardInterrupt):
        export_artifact(ExportOptions("toy-tiny", RANDOM, tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []  # no OUT, no staging directory left behind


def test_interrupted_re_export_keeps_the_previous_artifact(toy_copy, monkeypatch):
    before = (toy_copy / "manifest.json").read_text()
    monkeypatch.setattr(export_module, "export_graph", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export_artifact(ExportOptions("toy-tiny", RANDOM, toy_copy, force=True))
    assert (toy_copy / "manifest.json").read_text() == before
    load_artifact(toy_copy)  # still complete and verified
