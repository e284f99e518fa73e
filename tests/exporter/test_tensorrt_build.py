"""`ttsx build-engine` up to TensorRT: precision choice, readiness refusal, profiles, engine manifests.

The parts that need TensorRT and a GPU are in tests/runtimes/test_tensorrt_backend.py (skipped
without them); everything decided before TensorRT is imported is checked here.
"""
import json
import shutil
import sys

import pytest
from click.testing import CliRunner

from ttsx.artifact.manifest import MANIFEST, load_artifact, sha256_file
from ttsx.app.cli import main
from ttsx.artifact.engines import (BUILDERS, EngineMismatchError, check_compatible, check_source, engine_bytes,
                                   read_engine_manifest)
from ttsx.base.errors import ArtifactError, FeedError, TtsxError
from ttsx.exporter.tensorrt_build import build_targets, engine_precision, input_profiles, phase_profiles
from ttsx.recipes import get_recipe

GPU = {"name": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}


def test_profiles_keep_static_dims_and_take_symbolic_ones_from_the_recipe():
    recipe = get_recipe("bark-small")
    spec = recipe.graph_spec("coarse", kv_cache="tensorrt")
    profiles = input_profiles(spec, recipe.axis_ranges("coarse", 4))
    assert profiles["input_ids"] == ((1, 1), (4, 887), (4, 1024))  # opt: the largest batch, the longest prefill
    assert profiles["past_key_values.0.key"] == ((1, 12, 1024, 64), (4, 12, 1024, 64), (4, 12, 1024, 64))
    assert profiles["cache_lengths"] == ((1,), (4,), (4,))
    fine = input_profiles(recipe.graph_spec("fine"), recipe.axis_ranges("fine", 2))
    assert fine["codebook_idx"] == ((), (), ())
    with pytest.raises(TtsxError, match="sequence"):
        input_profiles(spec, {"batch": (1, 1, 4)})


def test_causal_engines_get_a_prefill_and_a_one_position_decode_profile():
    recipe = get_recipe("bark-small")
    coarse = recipe.graph_spec("coarse", kv_cache="tensorrt")
    (prefill_phase, prefill), (decode_phase, decode) = phase_profiles(coarse, recipe.axis_ranges("coarse", 8))
    assert (prefill_phase, decode_phase) == ("prefill", "decode")
    assert prefill["input_ids"] == ((1, 1), (8, 887), (8, 1024)) and decode["input_ids"] == ((1, 1), (8, 1), (8, 1))
    assert decode["past_key_values.3.value"] == prefill["past_key_values.3.value"]  # the same static cache
    fine = recipe.graph_spec("fine")
    assert [phase for phase, _ in phase_profiles(fine, recipe.axis_ranges("fine", 8))] == ["all"]


def manifest_profiles(spec, ranges):
    """The engine manifest's "profiles" entry as build-engine writes it."""
    return [{"phase": phase, "shapes": {k: {"min": v[0], "opt": v[1], "max": v[2]} for k, v in p.items()}}
            for phase, p in phase_profiles(spec, ranges)]


def test_steps_run_on_the_decode_profile_and_out_of_range_axes_are_named():
    from ttsx.runtimes.tensorrt_backend import choose_profile

    recipe = get_recipe("bark-small")
    spec = recipe.graph_spec("coarse", kv_cache="tensorrt")
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


def test_build_engine_without_any_builder_says_how_to_install_each(tiny_tensorrt_artifact, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # None in sys.modules: `import` raises ImportError
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    result = CliRunner().invoke(main, ["build-engine", str(tiny_tensorrt_artifact), "-o", str(tmp_path / "e")])
    assert result.exit_code == 1
    assert "no TensorRT builder is usable here" in result.output
    assert "ttsx[tensorrt]" in result.output and "ttsx[tensorrt-rtx]" in result.output
    result = CliRunner().invoke(main, ["build-engine", str(tiny_tensorrt_artifact), "--builder", "tensorrt-rtx",
                                       "-o", str(tmp_path / "e")])
    assert result.exit_code == 1 and "TensorRT for RTX is not usable here" in result.output
    assert not (tmp_path / "e").exists()


def test_compute_capabilities_are_checked_against_the_builder():
    rtx, trt11 = BUILDERS["tensorrt-rtx"], BUILDERS["tensorrt"]
    assert build_targets(rtx, (), "fp32").compute_capabilities == ("8.0", "8.6", "8.9", "12.0")
    assert build_targets(rtx, (), "fp32").set_by == "builder default"
    asked = build_targets(rtx, ("8.6", "8.9", "8.6"), "fp16")
    assert (asked.compute_capabilities, asked.set_by) == (("8.6", "8.9"), "--compute-capability")
    with pytest.raises(TtsxError, match="can't target compute capability 9.0.*no Hopper"):
        build_targets(rtx, ("9.0",), "fp16")
    for precision in ("fp32", "int8-qdq"):  # int8 engines keep float GEMMs
        with pytest.raises(TtsxError, match="no fp32 GEMM on Turing"):
            build_targets(rtx, ("7.5",), precision)
    assert build_targets(rtx, ("7.5",), "fp16").compute_capabilities == ("7.5",)
    with pytest.raises(TtsxError, match="--compute-capability is for --builder tensorrt-rtx"):
        build_targets(trt11, ("8.6",), "fp16")


def engine_dir(tmp_path, artifact_dir, **changes):
    """A hand-written engine directory: manifest and one fake engine file (never run)."""
    root = tmp_path / "engines"
    root.mkdir(parents=True)
    (root / "codec.engine").write_bytes(b"not an engine")
    manifest = {"format": "ttsx-engines", "format_version": 3, "precision": "fp32",
                "builder": {"name": "tensorrt", "version": "11.4.0.106", "compute_capabilities": ["9.0"],
                            "targets_set_by": "the GPU it was built on", "gpu": GPU},
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
    check_compatible(manifest, "tensorrt", "11.4.0.106", GPU, root)
    for builder, version, gpu in [("tensorrt", "11.5.0.1", GPU), ("tensorrt", "11.4.0.106", {**GPU, "name": "NVIDIA H200"}),
                                  ("tensorrt", "11.4.0.106", {**GPU, "compute_capability": "10.0"}),
                                  ("tensorrt-rtx", "11.4.0.106", GPU)]:
        with pytest.raises(EngineMismatchError, match="rebuild them here with `ttsx build-engine"):
            check_compatible(manifest, builder, version, gpu, root)


def test_tensorrt_for_rtx_engines_run_on_their_targets_and_not_on_hopper(tiny_artifact, tmp_path):
    rtx = {"name": "tensorrt-rtx", "version": "1.7.1.116", "compute_capabilities": ["8.0", "8.6", "8.9", "12.0"],
           "targets_set_by": "builder default", "gpu": None}
    root = engine_dir(tmp_path, tiny_artifact, builder=rtx)
    manifest = read_engine_manifest(root)
    for name, cc in [("NVIDIA GeForce RTX 3090", "8.6"), ("NVIDIA GeForce RTX 4090", "8.9"),
                     ("NVIDIA GeForce RTX 5090", "12.0"), ("NVIDIA GB10", "12.1")]:
        check_compatible(manifest, "tensorrt-rtx", "1.7.1.116", {"name": name, "compute_capability": cc}, root)
    with pytest.raises(EngineMismatchError, match=r"not Hopper .*--builder tensorrt \(TensorRT 11"):
        check_compatible(manifest, "tensorrt-rtx", "1.7.1.116", GPU, root)
    turing = {"name": "NVIDIA GeForce RTX 2080 Ti", "compute_capability": "7.5"}
    with pytest.raises(EngineMismatchError, match=r"--builder tensorrt-rtx --compute-capability 7.5 --precision fp16"):
        check_compatible(manifest, "tensorrt-rtx", "1.7.1.116", turing, root)
    asked = engine_dir(tmp_path / "asked", tiny_artifact, builder={**rtx, "compute_capabilities": ["8.6"],
                                                                   "targets_set_by": "--compute-capability"})
    with pytest.raises(EngineMismatchError, match=r"runs on compute capability 8.6; .*sm 12.0.*--compute-capability 12.0$"):
        check_compatible(read_engine_manifest(asked), "tensorrt-rtx", "1.7.1.116",
                         {"name": "NVIDIA GeForce RTX 5090", "compute_capability": "12.0"}, asked)


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
