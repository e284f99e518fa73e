"""`ttsx info`: what an artifact is, without loading a model."""
import subprocess
import sys

from click.testing import CliRunner

from ttsx.app.cli import main


def test_info_describes_the_artifact(toy_artifact):
    result = CliRunner().invoke(main, ["info", str(toy_artifact)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "recipe     toy-tiny (family toy), precision fp32, KV cache onnxruntime" in out
    assert "seeded random weights (seed 0)" in out and "not verified" in out
    for graph in ("lm", "vocoder"):
        assert f"  {graph:10s} {graph}.onnx (" in out
    assert "KV cache " in out and "pairs (past in = present out" in out


def test_info_names_an_int4_graphs_prefill_file(toy_quantize):
    result = CliRunner().invoke(main, ["info", str(toy_quantize("int4"))])
    assert result.exit_code == 0, result.output
    assert "  lm         lm.onnx (" in result.output and "int4, TensorRT-ready: no" in result.output
    assert "    prefill  lm.prefill.onnx (" in result.output and "int8: runs the calls of several positions" in result.output


def test_info_verify_names_a_changed_file(toy_copy):
    (toy_copy / "vocoder.onnx.data").write_bytes(b"x")
    assert CliRunner().invoke(main, ["info", str(toy_copy)]).exit_code == 0  # reads headers only
    result = CliRunner().invoke(main, ["info", str(toy_copy), "--verify"])
    assert result.exit_code == 1 and "vocoder.onnx.data changed since export" in result.output


def test_info_loads_no_model_library(toy_artifact):
    code = ("import sys; from ttsx.app.info import describe; describe(sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'transformers', 'onnxruntime', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(toy_artifact)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
