"""Generic parity and artifact checks, on the test-only toy family (tests/plugin_family)."""
import json

import numpy as np
import onnx
import pytest

from ttsx.artifact.manifest import load_artifact, sha256_file
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.checks.parity import format_table, run_parity


def _rehash(root):
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(root / name) for name in manifest["files"]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_parity_fails_on_a_wrong_graph(toy_copy):
    """Perturb the LM graph's weights (and re-hash, as a careless tool would): parity must fail."""
    path = toy_copy / "lm.onnx"
    model = onnx.load(path)
    for init in model.graph.initializer:
        values = onnx.numpy_helper.to_array(init)
        if values.dtype == np.float32 and values.size > 100:
            init.CopyFrom(onnx.numpy_helper.from_array(values * 1.1 + 0.01, init.name))
    onnx.save_model(model, path, save_as_external_data=True, location="lm.onnx.data")
    _rehash(toy_copy)
    rows = run_parity(toy_copy, graphs=("lm",))
    compared = [r for r in rows if r.metric != "moved by"]  # "moved by" rows judge the reference itself
    assert compared and not any(r.passed for r in compared)
    assert "FAIL" in format_table(rows)


def test_tampered_file_is_named_on_load(toy_copy):
    data = toy_copy / "lm.onnx.data"
    raw = bytearray(data.read_bytes())
    raw[100] ^= 0xFF
    data.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="lm.onnx.data changed since export"):
        load_artifact(toy_copy)


def test_missing_manifest_means_incomplete(toy_copy):
    (toy_copy / "manifest.json").unlink()
    with pytest.raises(ArtifactError, match="interrupted export"):
        load_artifact(toy_copy)


def test_manifest_paths_cannot_leave_the_artifact(toy_copy):
    manifest = json.loads((toy_copy / "manifest.json").read_text())
    manifest["files"]["../../etc/passwd"] = "0" * 64
    (toy_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="leaves the artifact directory"):
        load_artifact(toy_copy)


def test_artifact_of_another_recipe_shape_is_refused(toy_copy):
    manifest = json.loads((toy_copy / "manifest.json").read_text())
    manifest["recipe"] = "toy-wide"
    (toy_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="does not match recipe 'toy-wide'"):
        load_artifact(toy_copy)


def test_a_deleted_checkpoint_source_is_named_not_looked_up_on_the_hub(toy_copy, tmp_path):
    from ttsx.runtimes.reference import reference_model

    manifest = json.loads((toy_copy / "manifest.json").read_text())
    manifest["source"] = {"kind": "checkpoint", "random_weights": False, "weights_sha256": "0" * 64,
                          "location": str(tmp_path / "deleted-checkpoint")}
    (toy_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(TtsxError, match="deleted-checkpoint, which is gone; pass --model DIR"):
        reference_model(load_artifact(toy_copy))


def test_model_is_refused_for_a_random_weights_artifact(toy_artifact, tmp_path):
    from ttsx.runtimes.reference import reference_model

    with pytest.raises(TtsxError, match="seeded random weights.*would not be used: drop it"):
        reference_model(load_artifact(toy_artifact), str(tmp_path))


def test_a_nan_reference_passes_only_where_a_cache_is_undefined():
    from ttsx.checks.parity import compare
    from ttsx.recipes import get_recipe

    spec = get_recipe("toy-tiny").graph_spec("lm")
    kv = list(spec.kv_outputs)
    cache = np.ones((1, 2, 4, 3))
    cache_ref = cache.copy()
    cache_ref[:, :, 2:] = np.nan  # past the row's end: not compared
    got = {"logits": np.ones((1, 5)), **{n: cache + 0 for n in kv}}
    ref = {"logits": np.ones((1, 5)), **{n: cache_ref for n in kv}}
    assert all(r.passed for r in compare("lm", "case", spec, got, ref))

    bad_logits = {**ref, "logits": np.full((1, 5), np.nan)}
    assert [r.output for r in compare("lm", "case", spec, got, bad_logits) if not r.passed] == ["logits"]
    empty_cache = {**ref, **{n: np.full_like(cache, np.nan) for n in kv}}
    assert [r.output for r in compare("lm", "case", spec, got, empty_cache) if not r.passed] == ["present.*"]


def test_the_reference_run_is_reused_across_an_artifacts_precisions(toy_artifact, toy_quantize, tmp_path,
                                                                    monkeypatch):
    """fp32 parity keeps the fp32 reference pipeline's tokens and choices; int8's parity of the same weights
    reads them instead of running the reference again, with the same rows as without the cache; a damaged
    cache file is made again."""
    from ttsx.checks import agreement

    monkeypatch.setenv("TTSX_PARITY_CACHE", "on")
    monkeypatch.setenv("TTSX_CACHE_DIR", str(tmp_path))
    said = []
    run_parity(toy_artifact, progress=said.append)
    kept = list((tmp_path / "parity").glob("reference-run-*.npz"))
    assert len(kept) == 1 and not any("parity cache" in m for m in said)
    said.clear()
    cached = run_parity(toy_quantize("int8"), progress=said.append)
    assert any("from the parity cache" in m for m in said)
    monkeypatch.setenv("TTSX_PARITY_CACHE", "off")
    fresh = run_parity(toy_quantize("int8"))
    assert format_table(cached) == format_table(fresh)  # the same rows in the same order
    kept[0].write_bytes(b"not an npz")  # damaged: made again, not trusted
    monkeypatch.setenv("TTSX_PARITY_CACHE", "on")
    said.clear()
    assert format_table(run_parity(toy_quantize("int8"), progress=said.append)) == format_table(fresh)
    assert not any("from the parity cache" in m for m in said)
    artifact, original = load_artifact(toy_artifact), agreement._code_hash
    before = agreement._cache_path(artifact, "greedy", None, ("a",))
    monkeypatch.setattr(agreement, "_code_hash", lambda a: original(a) + "edited")  # a changed pipeline: a new key
    assert agreement._cache_path(artifact, "greedy", None, ("a",)) != before


def test_the_cached_reference_run_keeps_the_stages_in_pipeline_order(tmp_path):
    from ttsx.checks.agreement import _read, _write

    tokens = {s: [np.arange(3) + k, np.arange(2)] for k, s in enumerate(("semantic", "coarse", "fine"))}
    choices = {s: [np.full((2, 1), k) for k in range(11)] for s in ("semantic", "coarse")}
    _write(tmp_path / "run.npz", tokens, choices)
    read_tokens, read_choices = _read(tmp_path / "run.npz")
    assert list(read_tokens) == ["semantic", "coarse", "fine"] and list(read_choices) == ["semantic", "coarse"]
    assert all(np.array_equal(a, b) for s in tokens for a, b in zip(read_tokens[s], tokens[s]))
    assert [int(c[0, 0]) for c in read_choices["coarse"]] == list(range(11))  # 10 after 9, not after 1
