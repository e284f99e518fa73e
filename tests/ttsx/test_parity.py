import json

import numpy as np
import onnx
import pytest

from ttsx.artifact.manifest import load_artifact, sha256_file
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.checks.parity import format_table, run_parity


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_every_tiny_graph_matches_transformers(tiny_artifact, backend):
    rows = run_parity(tiny_artifact, backend=backend)
    graphs = {r.graph for r in rows}
    expected = {"semantic", "coarse", "fine", "codec"}
    assert graphs == expected | ({"end to end"} if backend == "onnxruntime" else set())
    assert [r for r in rows if not r.passed] == []
    assert all(r.value == 1.0 for r in rows if r.metric == "tokens agree")  # fp32: greedy tokens identical
    cases = {r.case for r in rows}
    assert {"decode batch=2 past=1023 (limit)", "decode batch=3 pasts=9,7,5 (ragged)", "prefill batch=1 T=1"} <= cases
    assert {f"batch=1 codebook={k}" for k in range(1, 8)} <= cases


def _rehash(root):
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(root / name) for name in manifest["files"]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_parity_fails_on_a_wrong_graph(tiny_copy):
    """Perturb the fine graph's weights (and re-hash, as a careless tool would): parity must fail."""
    path = tiny_copy / "fine.onnx"
    model = onnx.load(path)
    for init in model.graph.initializer:
        values = onnx.numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size > 1000:
            init.CopyFrom(onnx.numpy_helper.from_array(values * 1.1 + 0.01, init.name))
    onnx.save_model(model, path, save_as_external_data=True, location="fine.onnx.data")
    _rehash(tiny_copy)
    rows = run_parity(tiny_copy, graphs=("fine",))
    compared = [r for r in rows if r.metric != "moved by"]  # "moved by" rows judge the reference itself
    assert compared and not any(r.passed for r in compared)
    assert "FAIL" in format_table(rows)


def test_every_input_of_every_graph_moves_its_outputs(tiny_artifact):
    rows = run_parity(tiny_artifact, graphs=("semantic", "fine", "codec"))
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by" and r.passed}
    assert {("fine", "input_ids changed"), ("fine", "codebook_idx changed"), ("codec", "codes changed"),
            ("semantic", "input_ids changed"), ("semantic", "history_ids changed"), ("semantic", "lengths changed"),
            ("semantic", "cache_lengths changed"), ("semantic", "past_key_values.* changed")} <= moved
    assert all(r.passed for r in rows)


def test_a_codec_that_ignores_its_codes_fails_parity(tmp_path, monkeypatch):
    """transformers leaves EnCodec's codebooks at zero: exported like that, the codec ignores its codes."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.families.bark import reference
    from ttsx.recipes.source import ModelSource

    monkeypatch.setattr(reference, "fill_degenerate_buffers", lambda module, generator: [])
    out = export_artifact(ExportOptions("bark-tiny", ModelSource("random", seed=3), tmp_path / "zero-codebooks"))
    rows = run_parity(out, graphs=("codec",))
    failed = [r for r in rows if not r.passed]
    assert [(r.metric, r.case) for r in failed] == [("moved by", "batch=1 frames=75, codes changed")]


def test_tampered_file_is_named_on_load(tiny_copy):
    data = tiny_copy / "coarse.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="coarse.onnx.data changed since export"):
        load_artifact(tiny_copy)


def test_missing_manifest_means_incomplete(tiny_copy):
    (tiny_copy / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="interrupted export"):
        load_artifact(tiny_copy)


def test_manifest_paths_cannot_leave_the_artifact(tiny_copy):
    manifest = json.loads((tiny_copy / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (tiny_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="leaves the artifact directory"):
        load_artifact(tiny_copy)


def test_artifact_of_another_recipe_shape_is_refused(tiny_copy):
    manifest = json.loads((tiny_copy / "manifest.json").read_text())
    manifest["recipe"] = "bark-small"
    (tiny_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not match recipe 'bark-small'"):
        load_artifact(tiny_copy)


def test_the_tensorrt_cache_flavour_matches_transformers_on_onnxruntime(tiny_tensorrt_artifact):
    """TensorScatter (opset 24) over a static 1024-position cache: TensorRT's graphs, checked on the CPU."""
    rows = run_parity(tiny_tensorrt_artifact, graphs=("semantic", "coarse"))
    assert rows and [r for r in rows if not r.passed] == []


def test_a_deleted_checkpoint_source_is_named_not_looked_up_on_the_hub(tiny_copy, tmp_path):
    from ttsx.runtimes.reference import reference_model

    manifest = json.loads((tiny_copy / "manifest.json").read_text())
    manifest["source"] = {"kind": "checkpoint", "random_weights": False, "weights_sha256": "0" * 64,
                          "location": str(tmp_path / "deleted-checkpoint")}
    (tiny_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TtsxError, match="deleted-checkpoint, which is gone; pass --model DIR"):
        reference_model(load_artifact(tiny_copy))


def test_model_is_refused_for_a_random_weights_artifact(tiny_artifact, tmp_path):
    from ttsx.runtimes.reference import reference_model

    with pytest.raises(TtsxError, match="seeded random weights.*would not be used: drop it"):
        reference_model(load_artifact(tiny_artifact), str(tmp_path))


def test_a_nan_reference_passes_only_where_a_cache_is_undefined():
    from ttsx.checks.parity import compare
    from ttsx.recipes import get_recipe

    spec = get_recipe("bark-tiny").graph("semantic")
    kv = list(spec.kv_outputs)
    cache = np.ones((1, 2, 4, 3))
    cache_ref = cache.copy()
    cache_ref[:, :, 2:] = np.nan  # past the row's end: not compared
    got = {"logits": np.ones((1, 5)), **{n: cache + 0 for n in kv}}
    ref = {"logits": np.ones((1, 5)), **{n: cache_ref for n in kv}}
    assert all(r.passed for r in compare("semantic", "case", spec, got, ref))

    bad_logits = {**ref, "logits": np.full((1, 5), np.nan)}
    assert [r.output for r in compare("semantic", "case", spec, got, bad_logits) if not r.passed] == ["logits"]
    empty_cache = {**ref, **{n: np.full_like(cache, np.nan) for n in kv}}
    assert [r.output for r in compare("semantic", "case", spec, got, empty_cache) if not r.passed] == ["present.*"]
