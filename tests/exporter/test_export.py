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


def test_manifest_lists_every_file_with_its_hash(tiny_artifact):
    manifest = json.loads((tiny_artifact / "manifest.json").read_text())
    on_disk = {p.relative_to(tiny_artifact).as_posix() for p in tiny_artifact.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert sha256_file(tiny_artifact / name) == digest
    assert manifest["source"]["random_weights"] is True and manifest["source"]["seed"] == 0
    assert manifest["precision"] == "fp32" and manifest["opset"] == 18
    assert {"torch", "transformers", "onnx", "onnxruntime"} <= set(manifest["versions"])


def test_graph_io_matches_recipe(tiny_artifact):
    recipe = get_recipe("bark-tiny")
    for spec in recipe.graphs():
        model = onnx.load(tiny_artifact / f"{spec.name}.onnx", load_external_data=False)
        assert [i.name for i in model.graph.input] == spec.input_names
        assert [o.name for o in model.graph.output] == spec.output_names
        dims = [d.dim_param or d.dim_value for d in model.graph.input[-1].type.tensor_type.shape.dim]
        assert dims == list(spec.inputs[-1].shape)


def test_weights_are_external_data_inside_the_artifact(tiny_artifact):
    for spec in get_recipe("bark-tiny").graphs():
        model = onnx.load(tiny_artifact / f"{spec.name}.onnx", load_external_data=False)
        locations = {e.value for t in model.graph.initializer for e in t.external_data if e.key == "location"}
        assert locations == {f"{spec.name}.onnx.data"}


def test_existing_output_needs_force(tiny_artifact):
    with pytest.raises(ArtifactError, match="--force"):
        export_artifact(ExportOptions("bark-tiny", RANDOM, tiny_artifact))


def test_force_never_replaces_a_foreign_directory(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("precious")
    with pytest.raises(ArtifactError, match="not a ttsx artifact"):
        export_artifact(ExportOptions("bark-tiny", RANDOM, tmp_path / "mine", force=True))
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "precious"


def test_interrupted_export_leaves_no_artifact(tmp_path, monkeypatch):
    calls = []
    real = export_module.export_graph

    def fail_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(export_module, "export_graph", fail_on_third)
    with pytest.raises(KeyboardInterrupt):
        export_artifact(ExportOptions("bark-tiny", RANDOM, tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []  # no OUT, no staging directory left behind


def test_interrupted_re_export_keeps_the_previous_artifact(tiny_copy, monkeypatch):
    before = (tiny_copy / "manifest.json").read_text()
    monkeypatch.setattr(export_module, "export_graph", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        export_artifact(ExportOptions("bark-tiny", RANDOM, tiny_copy, force=True))
    assert (tiny_copy / "manifest.json").read_text() == before
    load_artifact(tiny_copy)  # still complete and verified
