"""TensorRT engines of bark-tiny: build, synthesize and parity on a machine with TensorRT 11 and a GPU.

Marked `tensorrt`: tests/conftest.py skips them, with the reason, where either is missing (this
CI and the lent GPU machine have no TensorRT). On a TensorRT machine: `python3 -m pytest -m tensorrt`.
"""
import json
import wave

import numpy as np
import pytest
from click.testing import CliRunner

from ttsx.artifact import MANIFEST, load_artifact, sha256_file
from ttsx.cli import main
from ttsx.engines import EngineMismatchError
from ttsx.errors import FeedError
from ttsx.parity import run_parity
from ttsx.runtimes.factory import open_sessions

pytestmark = pytest.mark.tensorrt
MAX_BATCH = 4


@pytest.fixture(scope="module")
def engines(tiny_artifact, tmp_path_factory):
    """engines(precision) -> engine directory built from the fp32 tiny artifact (once per precision)."""
    built = {}

    def build(precision):
        if precision not in built:
            out = tmp_path_factory.mktemp("engines") / precision
            cache = out.parent / "timing.cache"
            result = CliRunner().invoke(main, ["build-engine", str(tiny_artifact), "--precision", precision,
                                               "--max-batch", str(MAX_BATCH), "--timing-cache", str(cache),
                                               "-o", str(out)])
            assert result.exit_code == 0, result.output
            built[precision] = out
        return built[precision]

    return build


def test_engine_manifest_records_tensorrt_gpu_profiles_and_hashes(engines, tiny_artifact):
    import tensorrt
    import torch

    root = engines("fp32")
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["tensorrt"]["version"] == tensorrt.__version__
    assert manifest["tensorrt"]["name"] == torch.cuda.get_device_name()
    assert set(manifest["engines"]) == set(load_artifact(tiny_artifact).graph_names)
    assert manifest["precision"] == "fp32" and manifest["max_batch"] == MAX_BATCH
    artifact = load_artifact(tiny_artifact)
    for name, entry in manifest["engines"].items():
        assert manifest["files"][entry["file"]] == sha256_file(root / entry["file"])
        assert set(entry["profile"]) == set(artifact.graph_spec(name).input_names)
    decode = manifest["engines"]["semantic_decode"]["profile"]["past_key_values.0.key"]
    assert decode["max"][0] == MAX_BATCH and decode["max"][2] == 1023
    assert (root / "timing.cache").stat().st_size > 0


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_parity_on_tensorrt_meets_the_precision_budget(engines, tiny_artifact, precision):
    rows = run_parity(tiny_artifact, "tensorrt", engines=engines(precision))
    assert rows and [r for r in rows if not r.passed] == []
    assert any(r.graph == "end to end" for r in rows)


def test_synthesize_with_tensorrt_writes_audio(engines, tiny_artifact, tmp_path):
    out = tmp_path / "speech.wav"
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hello there.", "-o", str(out),
                                       "--backend", "tensorrt", "--engines", str(engines("fp16")), "--seed", "1",
                                       "--max-tokens", "40"])
    assert result.exit_code == 0, result.output
    with wave.open(str(out)) as f:
        assert f.getframerate() == 24_000 and f.getnframes() > 0


def decode_steps(sessions, prefill_feed, tokens):
    """Prefill, then one decode step per token; logits per step and the last present.* values."""
    prefill, decode = sessions["coarse_prefill"], sessions["coarse_decode"]
    outputs = prefill.run(prefill_feed, host=("logits",))
    pairs = list(zip(decode.spec.input_names[1:], decode.spec.output_names[1:]))
    logits = []
    for token in tokens:
        feed = {"input_ids": np.full((2, 1), token, np.int64), **{p: outputs[q] for p, q in pairs}}
        outputs = decode.run(feed, host=("logits",))
        logits.append(outputs["logits"])
    return logits, outputs


def test_decode_keeps_the_cache_on_the_gpu_and_cuda_graphs_change_nothing(engines, tiny_artifact):
    artifact = load_artifact(tiny_artifact)
    feed = {"input_ids": np.random.default_rng(0).integers(0, 12_096, (2, 300))}
    tokens = [10_000 + 7 * i for i in range(12)]
    results = {}
    for graphs in (False, True):
        sessions = open_sessions(artifact, ["coarse_prefill", "coarse_decode"], "tensorrt", engines=engines("fp32"),
                                 cuda_graphs=graphs)
        decode_steps(sessions, feed, tokens)  # first pass captures the graphs
        results[graphs] = decode_steps(sessions, feed, tokens)  # second pass replays them
        captured = sessions["coarse_decode"]._decode.graphs
        assert (len(captured) == len(tokens)) if graphs else captured is None
    (plain, last), (replayed, _) = results[False], results[True]
    for a, b in zip(plain, replayed):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)  # a wrong buffer would be off by far more
    assert all(v.is_cuda for k, v in last.items() if k.startswith("present."))


def test_a_stale_cache_and_shapes_outside_the_profile_are_refused(engines, tiny_artifact):
    artifact = load_artifact(tiny_artifact)
    sessions = open_sessions(artifact, ["coarse_prefill", "coarse_decode"], "tensorrt", engines=engines("fp32"))
    decode = sessions["coarse_decode"]
    pairs = list(zip(decode.spec.input_names[1:], decode.spec.output_names[1:]))
    first = sessions["coarse_prefill"].run({"input_ids": np.ones((2, 10), np.int64)}, host=("logits",))
    step1 = decode.run({"input_ids": np.ones((2, 1), np.int64), **{p: first[q] for p, q in pairs}}, host=("logits",))
    step2 = decode.run({"input_ids": np.ones((2, 1), np.int64), **{p: step1[q] for p, q in pairs}}, host=("logits",))
    decode.run({"input_ids": np.ones((2, 1), np.int64), **{p: step2[q] for p, q in pairs}}, host=("logits",))
    for stale in (step1, step2):  # two steps back: same buffer set, other length; one back: other set
        with pytest.raises(FeedError, match="earlier step"):
            decode.run({"input_ids": np.ones((2, 1), np.int64), **{p: stale[q] for p, q in pairs}})
    with pytest.raises(FeedError, match="outside the engine's profile"):
        sessions["coarse_prefill"].run({"input_ids": np.ones((MAX_BATCH + 1, 10), np.int64)})


def test_engines_from_another_tensorrt_version_are_refused(engines, tiny_artifact, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(engines("fp32"), root)
    manifest = json.loads((root / MANIFEST).read_text())
    manifest["tensorrt"]["version"] = "11.0.0.0"
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(EngineMismatchError, match="rebuild"):
        open_sessions(load_artifact(tiny_artifact), ["codec"], "tensorrt", engines=root)
