"""`ttsx build-engine` up to TensorRT: precision choice, readiness refusal, profiles, engine manifests.

The parts that need TensorRT and a GPU are in tests/runtimes/test_tensorrt_backend.py (skipped
without them); everything decided before TensorRT is imported is checked here.
"""
import json
import shutil

import pytest
from click.testing import CliRunner

from ttsx.artifact.manifest import MANIFEST, load_artifact, sha256_file
from ttsx.app.cli import main
from ttsx.artifact.engines import EngineMismatchError, check_compatible, check_source, engine_bytes, read_engine_manifest
from ttsx.base.errors import ArtifactError, FeedError, TtsxError
from ttsx.exporter.tensorrt_build import engine_precision, input_profiles, phase_profiles
from ttsx.recipes import get_recipe

GPU = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def test_profiles_keep_static_dims_and_take_symbolic_ones_from_the_recipe():
    recipe = get_recipe("bark-small")
    spec = recipe.graph("coarse", kv_cache="tensorrt")
    profiles = input_profiles(spec, recipe.axis_ranges("coarse", 4))
    assert profiles["input_ids"] == ((1, 1), (4, 887), (4, 1024))  # opt: the largest batch, the longest prefill
    assert profiles["past_key_values.0.key"] == ((1, 12, 1024, 64), (4, 12, 1024, 64), (4, 12, 1024, 64))
    assert profiles["cache_lengths"] == ((1,), (4,), (4,))
    fine = input_profiles(recipe.graph("fine"), recipe.axis_ranges("fine", 2))
    assert fine["codebook_idx"] == ((), (), ())
    with pytest.raises(TtsxError, match="sequence"):
        input_profiles(spec, {"batch": (1, 1, 4)})


def test_causal_engines_get_a_prefill_and_a_one_position_decode_profile():
    recipe = get_recipe("bark-small")
    coarse = recipe.graph("coarse", kv_cache="tensorrt")
    (prefill_phase, prefill), (decode_phase, decode) = phase_profiles(coarse, recipe.axis_ranges("coarse", 8))
    assert (prefill_phase, decode_phase) == ("prefill", "decode")
    assert prefill["input_ids"] == ((1, 1), (8, 887), (8, 1024)) and decode["input_ids"] == ((1, 1), (8, 1), (8, 1))
    assert decode["past_key_values.3.value"] == prefill["past_key_values.3.value"]  # the same static cache
    fine = recipe.graph("fine")
    assert [phase for phase, _ in phase_profiles(fine, recipe.axis_ranges("fine", 8))] == ["all"]


def manifest_profiles(spec, ranges):
    """The engine manifest's "profiles" entry as build-engine writes it."""
    return [{"phase": phase, "shapes": {k: {"min": v[0], "opt": v[1], "max": v[2]} for k, v in p.items()}}
            for phase, p in phase_profiles(spec, ranges)]


def test_steps_run_on_the_decode_profile_and_out_of_range_axes_are_named():
    from ttsx.runtimes.tensorrt_backend import choose_profile

    recipe = get_recipe("bark-small")
    spec = recipe.graph("coarse", kv_cache="tensorrt")
    profiles = manifest_profiles(spec, recipe.axis_ranges("coarse", 4))

    def shapes(batch, positions):
        return {t.name: tuple(batch if d == "batch" else positions if d == "sequence" else d for d in t.shape)
                for t in spec.inputs}

    assert choose_profile(spec, profiles, shapes(3, 1)) == 1  # a step: the decode profile
    assert choose_profile(spec, profiles, shapes(3, 500)) == 0  # a prefill
    with pytest.raises(FeedError, match=r"axis 'batch' of input 'input_ids' is 5; the engine accepts 1..4 "
                                        r"\(rebuild the engines with --max-batch 5\)"):
        choose_profile(spec, profiles, shapes(5, 1))
    with pytest.raises(FeedError, match=r"axis 'sequence' of input 'input_ids' is 1025; the engine accepts 1..1024"):
        choose_profile(spec, profiles, shapes(1, 1025))


def test_engine_precision_follows_the_artifact_or_converts_from_fp32(tiny_artifact, quantize):
    fp32, fp16 = load_artifact(tiny_artifact), load_artifact(quantize("fp16"))
    assert engine_precision(fp32, None) == "fp32"
    assert engine_precision(fp32, "fp16") == "fp16"
    assert engine_precision(fp32, "int8") == "int8-qdq"  # TensorRT's int8 is explicit Q/DQ
    assert engine_precision(fp16, None) == "fp16"
    with pytest.raises(TtsxError, match="precision fp16, not int8-qdq"):
        engine_precision(fp16, "int8")
    with pytest.raises(TtsxError, match="unknown engine precision"):
        engine_precision(fp32, "int4")


def test_build_engine_refuses_graphs_that_fail_the_readiness_check(quantize, tmp_path):
    out = tmp_path / "engines"
    result = CliRunner().invoke(main, ["build-engine", str(quantize("int8")), "-o", str(out)])
    assert result.exit_code == 1
    assert "is not TensorRT-ready" in result.output and "nothing was built" in result.output
    assert "DynamicQuantizeLinear is not supported" in result.output and "MatMulInteger" in result.output
    assert "--precision int8 (explicit Q/DQ)" in result.output
    assert not out.exists()


def test_build_engine_refuses_the_onnxruntime_cache_flavour_and_says_how_to_export(tiny_artifact, tmp_path):
    result = CliRunner().invoke(main, ["build-engine", str(tiny_artifact), "-o", str(tmp_path / "e")])
    assert result.exit_code == 1 and "com.microsoft::GroupQueryAttention" in result.output
    assert "--kv-cache tensorrt" in result.output
    assert not (tmp_path / "e").exists()


def test_build_engine_without_tensorrt_says_how_to_install_it(tiny_tensorrt_artifact, tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is importable here; this checks the message where it is not")
    except (ImportError, OSError):
        pass
    result = CliRunner().invoke(main, ["build-engine", str(tiny_tensorrt_artifact), "-o", str(tmp_path / "e")])
    assert result.exit_code == 1
    assert "TensorRT is not usable here" in result.output and "ttsx[tensorrt]" in result.output
    assert not (tmp_path / "e").exists()


def engine_dir(tmp_path, artifact_dir, **changes):
    """A hand-written engine directory: manifest and one fake engine file (never run)."""
    root = tmp_path / "engines"
    root.mkdir()
    (root / "codec.engine").write_bytes(b"not an engine")
    manifest = {"format": "ttsx-engines", "format_version": 2, "precision": "fp32",
                "tensorrt": {"version": "11.4.0.106", **GPU},
                "source": {"path": str(artifact_dir), "manifest_sha256": sha256_file(artifact_dir / MANIFEST),
                           "derived_from_sha256": None},
                "engines": {"codec": {"file": "codec.engine"}},
                "files": {"codec.engine": sha256_file(root / "codec.engine")}}
    manifest.update(changes)
    (root / MANIFEST).write_text(json.dumps(manifest))
    return root


def test_engines_built_for_another_tensorrt_or_gpu_must_be_rebuilt(tiny_artifact, tmp_path):
    root = engine_dir(tmp_path, tiny_artifact)
    manifest = read_engine_manifest(root)
    check_compatible(manifest, "11.4.0.106", GPU, root)
    for version, gpu in [("11.5.0.1", GPU), ("11.4.0.106", {**GPU, "name": "NVIDIA H200"}),
                         ("11.4.0.106", {**GPU, "compute_capability": "10.0"})]:
        with pytest.raises(EngineMismatchError, match="rebuild them here with `ttsx build-engine"):
            check_compatible(manifest, version, gpu, root)


def test_engines_of_another_artifact_are_refused(tiny_artifact, quantize, tmp_path):
    root = engine_dir(tmp_path, tiny_artifact)
    check_source(read_engine_manifest(root), load_artifact(tiny_artifact), root)
    with pytest.raises(EngineMismatchError, match="were built from"):
        check_source(read_engine_manifest(root), load_artifact(quantize("fp16")), root)


def test_damaged_or_missing_engine_directories_are_refused(tiny_artifact, tmp_path):
    with pytest.raises(ArtifactError, match="no TensorRT engines .* build them with `ttsx build-engine"):
        read_engine_manifest(tmp_path / "nowhere", tiny_artifact)
    root = engine_dir(tmp_path, tiny_artifact)
    assert engine_bytes(root, read_engine_manifest(root), "codec") == b"not an engine"
    (root / "codec.engine").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="changed since it was built"):
        engine_bytes(root, read_engine_manifest(root), "codec")
    shutil.rmtree(root)
    root = engine_dir(tmp_path, tiny_artifact, format_version=0)
    with pytest.raises(EngineMismatchError, match="rebuild"):
        read_engine_manifest(root)


def test_tensorrt_backend_options_are_checked_before_loading(tiny_artifact, tmp_path):
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "hi", "-o", str(tmp_path / "a.wav"),
                                       "--engines", str(tmp_path)])
    assert result.exit_code == 2 and "--engines is for --backend tensorrt" in result.output
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "hi", "-o", str(tmp_path / "a.wav"),
                                       "--backend", "tensorrt", "--engines", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no TensorRT engines at" in result.output
