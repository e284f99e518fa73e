"""Real engine builds without a GPU: every graph of every family with TensorRT for RTX (or TensorRT 11 where it
and a GPU are usable), at fp32, fp16 and int8, and what the build checks on the parsed network.

Marked `tensorrt_build`: skipped, with the reason, where no builder is installed (CI installs the
`tensorrt-rtx` extra). Running the engines needs a GPU: tests/runtimes/test_tensorrt_backend.py.
"""
import json

import onnx
import pytest
from click.testing import CliRunner

from ttsx.app.cli import main
from ttsx.artifact.engines import choose_builder, engine_bytes, read_engine_manifest, runs_on, visible_gpu
from ttsx.artifact.manifest import MANIFEST, load_artifact
from ttsx.base.errors import TtsxError

pytestmark = pytest.mark.tensorrt_build
MAX_BATCH = 2


@pytest.fixture(scope="module")
def built(tensorrt_artifact, tmp_path_factory):
    """built(recipe, precision, *options) -> (artifact, engine directory), each built once."""
    done = {}

    def build(recipe, precision, *options):
        key = (recipe, precision, options)
        if key not in done:
            artifact = tensorrt_artifact(recipe)  # every family's, from its tests' fixtures.py
            out = tmp_path_factory.mktemp("engines") / f"{recipe}-{precision}"
            result = CliRunner().invoke(main, ["build-engine", str(artifact), "--precision", precision,
                                               "--max-batch", str(MAX_BATCH), "-o", str(out), *options])
            assert result.exit_code == 0, result.output
            done[key] = artifact, out
        return done[key]

    return build


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_every_graph_builds_with_its_cache_in_place_and_a_profile_per_phase(built, tensorrt_recipe, precision):
    artifact_dir, root = built(tensorrt_recipe, precision)
    artifact, manifest = load_artifact(artifact_dir), read_engine_manifest(root)
    builder, trt = choose_builder(None)
    assert (manifest["builder"]["name"], manifest["builder"]["version"]) == (builder.name, trt.__version__)
    assert manifest["precision"] == {"int8": "int8-qdq"}.get(precision, precision)
    assert set(manifest["engines"]) == set(artifact.graph_names)
    for name, entry in manifest["engines"].items():
        spec = artifact.graph_spec(name)
        assert len(engine_bytes(root, manifest, name)) == entry["bytes"] > 0  # the file, hashed
        assert entry["kv_cache_updates"] == {p.present: p.past for p in spec.cache}
        assert [p["phase"] for p in entry["profiles"]] == (["prefill", "decode"] if spec.cache else ["all"])
        gpu = visible_gpu()
        assert entry["checked"] == ("network and engine" if gpu and runs_on(manifest["builder"], gpu) else "network")
        gemms = set(entry["gemm_precisions"])
        if precision == "fp32" or not gemms:
            assert gemms <= {"FLOAT"}
        elif precision == "fp16":
            assert gemms == ({"HALF"} if spec.convert.fp16 else {"FLOAT"}), name
        elif spec.convert.int8:  # weight GEMMs int8 from Q/DQ; attention's activation products stay float
            assert "INT8" in gemms and entry["quantize_layers"] > 0, name
        else:
            assert "INT8" not in gemms and entry["quantize_layers"] == 0, name


def test_targets_are_recorded_and_info_describes_the_engines(built):
    if choose_builder(None)[0].name != "tensorrt-rtx":
        pytest.skip("TensorRT 11 is the builder here; compute capabilities are TensorRT for RTX's option")
    artifact_dir, root = built("toy-tiny", "fp16", "--builder", "tensorrt-rtx", "--compute-capability", "8.6",
                               "--compute-capability", "12.0")
    manifest = json.loads((root / MANIFEST).read_text())
    assert manifest["builder"]["compute_capabilities"] == ["8.6", "12.0"]
    assert manifest["builder"]["targets_set_by"] == "--compute-capability"
    info = CliRunner().invoke(main, ["info", str(root), "--verify"])
    assert info.exit_code == 0, info.output
    assert "builder    tensorrt-rtx" in info.output and "compute capability 8.6, 12.0" in info.output
    assert "runs on    GPUs of compute capability 8.6, 12.0 only" in info.output and "sha256 verified" in info.output
    assert "KV cache  4 outputs updated in place" in info.output and "profile   decode: input_ids [1, 1]..[2, 1]" \
        in info.output
    default = json.loads((built("toy-tiny", "fp32")[1] / MANIFEST).read_text())["builder"]
    assert (default["compute_capabilities"], default["targets_set_by"]) == (["8.0", "8.6", "8.9", "12.0"],
                                                                            "builder default")


def test_a_cache_output_that_is_not_updated_in_place_is_refused(toy_tensorrt_artifact, tmp_path):
    """The network check can fail: present.0.key made by a copy of the cache instead of a KV-cache update."""
    from ttsx.exporter.tensorrt_build import network_report

    builder, trt = choose_builder(None)
    artifact = load_artifact(toy_tensorrt_artifact)
    spec = artifact.graph_spec("lm")
    model = onnx.load(str(artifact.graph_path("lm")))

    def report(graph):
        path = tmp_path / "lm.onnx"
        onnx.save(graph, str(path), save_as_external_data=True, location="lm.onnx.data")
        logger = trt.Logger(trt.Logger.ERROR)
        network = trt.Builder(logger).create_network(0)
        assert trt.OnnxParser(network, logger).parse_from_file(str(path))
        return network_report(trt, network, spec, 2)

    assert report(model)["kv_cache_updates"]["present.0.key"] == "past_key_values.0.key"
    update = next(n for n in model.graph.node if n.output[0] == "present.0.key")
    assert update.op_type == "TensorScatter"
    copy = onnx.helper.make_node("Identity", [update.input[0]], ["present.0.key"], name="copy")
    model.graph.node.insert(list(model.graph.node).index(update), copy)
    model.graph.node.remove(update)
    with pytest.raises(TtsxError, match=r"present.0.key <- IDENTITY\(past_key_values.0.key\)|not in-place updates"):
        report(model)


def test_running_engines_without_a_gpu_refuses_in_one_line(built, tmp_path):
    if visible_gpu() is not None:
        pytest.skip("a GPU is visible here: tests/runtimes/test_tensorrt_backend.py runs the engines")
    artifact_dir, root = built("bark-tiny", "fp16")
    result = CliRunner().invoke(main, ["synthesize", str(artifact_dir), "Hello.", "-o", str(tmp_path / "x.wav"),
                                       "--backend", "tensorrt", "--engines", str(root)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: TensorRT engines need a CUDA GPU and torch built with CUDA; "
                                                  "none is visible here"]
    assert not (tmp_path / "x.wav").exists()
