"""TensorRT engines of bark-tiny: build, synthesize and parity on a machine with a TensorRT builder and a GPU its
engines run on (TensorRT 11 and any NVIDIA GPU, or TensorRT for RTX and an RTX-class GPU).

Marked `tensorrt`: tests/conftest.py skips them, with the reason, where either is missing (CI has no GPU;
the lent H100/H200 has no TensorRT 11, and TensorRT for RTX engines don't run on Hopper). On such a
machine: `python3 -m pytest -m tensorrt`. Building without a GPU: tests/exporter/test_tensorrt_rtx_build.py.
"""
import json
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from ttsx.artifact.manifest import MANIFEST, load_artifact, sha256_file
from ttsx.app.cli import main
from ttsx.artifact.engines import EngineMismatchError
from ttsx.base.errors import FeedError
from ttsx.checks.parity import run_parity
from ttsx.runtimes.causal import CausalRunner
from ttsx.runtimes.factory import open_sessions

pytestmark = pytest.mark.tensorrt
MAX_BATCH = 4


@pytest.fixture(scope="module")
def engines(tiny_tensorrt_artifact, tmp_path_factory):
    """engines(precision) -> engine directory built from the fp32 tiny TensorRT-flavour artifact (once each)."""
    built = {}

    def build(precision):
        if precision not in built:
            out = tmp_path_factory.mktemp("engines") / precision
            cache = out.parent / "timing.cache"
            result = CliRunner().invoke(main, ["build-engine", str(tiny_tensorrt_artifact), "--precision", precision,
                                               "--max-batch", str(MAX_BATCH), "--timing-cache", str(cache),
                                               "-o", str(out)])
            assert result.exit_code == 0, result.output
            built[precision] = out
        return built[precision]

    return build


def test_engine_manifest_records_the_builder_gpu_profiles_and_hashes(engines, tiny_tensorrt_artifact):
    import torch

    from ttsx.artifact.engines import choose_builder

    root = engines("fp32")
    manifest = json.loads((root / MANIFEST).read_text())
    artifact = load_artifact(tiny_tensorrt_artifact)
    builder, trt = choose_builder(None)
    assert (manifest["builder"]["name"], manifest["builder"]["version"]) == (builder.name, trt.__version__)
    assert manifest["builder"]["gpu"]["name"] == torch.cuda.get_device_name()
    assert all(e["checked"] == "network and engine" for e in manifest["engines"].values())
    assert set(manifest["engines"]) == set(artifact.graph_names)
    assert manifest["precision"] == "fp32" and manifest["max_batch"] == MAX_BATCH
    for name, entry in manifest["engines"].items():
        assert manifest["files"][entry["file"]] == sha256_file(root / entry["file"])
        for profile in entry["profiles"]:
            assert set(profile["shapes"]) == set(artifact.graph_spec(name).input_names)
    prefill, decode = manifest["engines"]["coarse"]["profiles"]
    assert (prefill["phase"], decode["phase"]) == ("prefill", "decode")
    assert decode["shapes"]["input_ids"]["max"] == [MAX_BATCH, 1]
    assert decode["shapes"]["past_key_values.0.key"]["max"][2] == artifact.recipe.kv_capacity  # static capacity
    assert [p["phase"] for p in manifest["engines"]["fine"]["profiles"]] == ["all"]
    assert builder.name == "tensorrt-rtx" or (root / "timing.cache").stat().st_size > 0  # RTX: no timing cache


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_parity_on_tensorrt_meets_the_precision_budget(engines, tiny_tensorrt_artifact, precision):
    rows = run_parity(tiny_tensorrt_artifact, "tensorrt", engines=engines(precision))
    assert rows and [r for r in rows if not r.passed] == []
    assert any(r.graph == "end to end" for r in rows)


def test_synthesize_with_tensorrt_writes_audio(engines, tiny_tensorrt_artifact, tmp_path):
    out = tmp_path / "speech.wav"
    result = CliRunner().invoke(main, ["synthesize", str(tiny_tensorrt_artifact), "Hello there.", "-o", str(out),
                                       "--backend", "tensorrt", "--engines", str(engines("fp16")), "--seed", "1",
                                       "--max-tokens", "40"])
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as f:
        assert f.getframerate() == 24_000 and f.getnframes() > 0


def generate(session, prompts, lengths, tokens):
    """A prefill of right-padded prompts, then one step per token; the logits of every call."""
    runner = CausalRunner(session)
    logits = [runner.start({"input_ids": prompts}, lengths, room=len(tokens)).get("logits").copy()]
    for token in tokens:
        logits.append(runner.step({"input_ids": np.full((len(lengths), 1), token, np.int64)})["logits"].copy())
    runner.close()
    return logits


def test_steps_update_the_cache_in_place_and_cuda_graphs_change_nothing(engines, tiny_tensorrt_artifact):
    artifact = load_artifact(tiny_tensorrt_artifact)
    prompts = np.random.default_rng(0).integers(0, 12_096, (2, 300))
    lengths, tokens = [300, 120], [10_000 + 7 * i for i in range(12)]
    results = {}
    for graphs in (False, True):
        session = open_sessions(artifact, ["coarse"], "tensorrt", engines=engines("fp32"), cuda_graphs=graphs)["coarse"]
        generate(session, prompts, lengths, tokens)  # first generation captures the batch's step
        caches = {n: t.data_ptr() for n, t in session.new_cache(2, artifact.recipe.kv_capacity).items()}
        results[graphs] = generate(session, prompts, lengths, tokens)  # the second replays it on the same buffers
        assert {n: t.data_ptr() for n, t in session.new_cache(2, artifact.recipe.kv_capacity).items()} == caches
        assert sorted(session._steps) == ([2] if graphs else [])  # one captured step per batch size
        session.close()
    for plain, replayed in zip(results[False], results[True]):
        np.testing.assert_allclose(plain, replayed, atol=1e-5, rtol=0)  # a wrong buffer would be off by far more


def test_a_0d_feed_and_shapes_outside_the_profiles(engines, tiny_tensorrt_artifact):
    artifact = load_artifact(tiny_tensorrt_artifact)
    sessions = open_sessions(artifact, ["fine", "coarse"], "tensorrt", engines=engines("fp32"))
    codes = np.random.default_rng(1).integers(0, 1024, (1, 1024, 8))
    out = sessions["fine"].run({"input_ids": codes, "codebook_idx": np.array(2, np.int64)}, host=("logits",))
    assert np.isfinite(out["logits"]).all()
    with pytest.raises(FeedError, match="axis 'batch' .* --max-batch 5"):
        CausalRunner(sessions["coarse"]).start({"input_ids": np.ones((MAX_BATCH + 1, 10), np.int64)},
                                               [10] * (MAX_BATCH + 1), room=4)


def test_engines_from_another_tensorrt_version_are_refused(engines, tiny_tensorrt_artifact, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(engines("fp32"), root)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["builder"]["version"] = "0.0.0.0"
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EngineMismatchError, match="rebuild"):
        open_sessions(load_artifact(tiny_tensorrt_artifact), ["codec"], "tensorrt", engines=root)
