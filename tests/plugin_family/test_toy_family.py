"""The core runs a family it knows nothing about: the test-only toy family (tests/plugin_family), a plug-in found
through TTSX_FAMILIES, goes through export, parity, quantize, synthesize and serve on generic code only."""
import subprocess
import sys
import wave

import numpy as np
import pytest

from ttsx.recipes import get_recipe
from ttsx.recipes.registry import family_modules


def test_the_plug_in_is_found_beside_the_built_in_families():
    assert "ttsx_toy" in family_modules()
    assert get_recipe("toy-tiny").family == "toy"


@pytest.mark.parametrize("threads", [1, 2])
def test_fp32_parity_passes_and_every_input_moves_the_reference(toy_artifact, threads):
    from ttsx.checks.parity import failures, run_parity

    rows = run_parity(toy_artifact, threads=threads)
    assert not failures(rows), failures(rows)
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by"}
    assert ("lm", "input_ids changed") in moved and ("vocoder", "codes changed") in moved
    assert any(r.graph == "end to end" and r.metric == "tokens agree" and r.passed for r in rows)


def test_parity_fails_a_graph_that_ignores_an_input(toy_artifact, tmp_path, monkeypatch):
    """The sensitivity check can fail: a vocoder whose output ignores its codes is caught."""
    from ttsx.checks.parity import failures, run_parity
    from ttsx_toy import kinds

    def constant(self, model, spec, feed):
        return {"waveform": np.zeros((feed["codes"].shape[0], feed["codes"].shape[1] * 80), np.float32)}

    monkeypatch.setattr(kinds.Vocoder, "reference", constant)
    rows = run_parity(toy_artifact, graphs=("vocoder",), end_to_end=False)
    assert any(r.metric == "moved by" and r.passed is False for r in failures(rows))


@pytest.mark.parametrize("precision", ["fp16", "int8", "int8-qdq", "int4"])
def test_quantized_artifacts_meet_their_budgets_on_one_and_two_threads(toy_artifact, tmp_path, precision):
    from ttsx.checks.parity import failures, run_parity
    from ttsx.app.quantize import quantize_artifact
    from ttsx.exporter.quantize import QuantizeOptions

    out = quantize_artifact(QuantizeOptions(toy_artifact, precision, tmp_path / precision))
    for threads in (1, 2):
        rows = run_parity(out, threads=threads)
        assert not failures(rows), (threads, failures(rows))
        assert any(r.metric == "choices agree" for r in rows)  # the teacher-forced gate ran


def test_synthesize_from_the_command_line(toy_artifact, tmp_path):
    out = tmp_path / "toy.wav"
    result = subprocess.run([sys.executable, "-m", "ttsx", "synthesize", str(toy_artifact), "Hello. Two pieces.",
                             "-o", str(out), "--seed", "0", "--max-tokens", "20"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as w:
        assert w.getframerate() == 8000 and w.getnframes() > 0


def test_seeded_rows_are_the_same_alone_and_batched(toy_artifact):
    import ttsx

    with ttsx.load(toy_artifact) as pipeline:
        options = ttsx.SynthesisOptions(seed=3, max_tokens=24, batch_size=3)
        batched = pipeline(["one", "two two", "three three three"], options=options)
        alone = pipeline(["two two"], options=ttsx.SynthesisOptions(seed=3, max_tokens=24, batch_size=1))
    np.testing.assert_array_equal(batched.tokens["lm"][1], alone.tokens["lm"][0])
    np.testing.assert_array_equal(batched.audio[1], alone.audio[0])
