"""`ttsx bench` in CI size: it runs, every runtime does the same work, and the JSON holds the table (the toy family;
the compiled backend and Bark's EOS rule on bark-tiny)."""
import json
import re

import numpy as np
from click.testing import CliRunner

from ttsx.app.cli import main
from ttsx.recipes import get_recipe
from ttsx.recipes.families.bark.stages import SemanticOptions, semantic_tokens
from ttsx.runtimes.sampling import SamplingOptions


def test_bench_smoke_runs_transformers_and_ttsx_on_the_same_workload(toy_artifact, toy_quantize, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", str(toy_artifact), str(toy_quantize("int8")), "--tokens", "8",
                                       "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "eager toy fp32" in result.output and "ttsx onnxruntime int8" in result.output
    report = json.loads(out.read_text())
    assert report["workload"] == {"tokens": 8, "batches": [1], "repeats": 1}
    runs = {r["runtime"]: r for r in report["results"]}
    assert set(runs) == {"eager toy fp32", "ttsx onnxruntime fp32", "ttsx onnxruntime int8"}
    assert len({r["audio_s"] for r in runs.values()}) == 1  # EOS suppressed: the same audio length everywhere
    assert {json.dumps(r["steps"], sort_keys=True) for r in runs.values()} == {'{"lm": 8}'}
    for r in runs.values():
        assert set(r["stage_s"]) == {"lm", "vocoder"} and r["total_s"] > 0
        assert r["rtf"] == r["total_s"] / r["audio_s"] and r["peak_rss_mb"] > 0
    assert runs["eager toy fp32"]["speedup"] == 1.0
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_batches_report_throughput_latency_and_a_plot(toy_artifact, tmp_path):
    out = tmp_path / "batches.json"
    result = CliRunner().invoke(main, ["bench", str(toy_artifact), "--tokens", "6", "--repeats", "1",
                                       "--batch", "1", "3", "--no-baseline", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "audio s per wall s" in result.output and "latency s" in result.output and "vs batch 1" in result.output
    report = json.loads(out.read_text())
    assert report["workload"]["batches"] == [1, 3]
    one, three = sorted(report["results"], key=lambda r: r["batch"])
    assert (one["batch"], three["batch"]) == (1, 3)
    assert abs(three["audio_s"] - 3 * one["audio_s"]) < 1e-6  # EOS suppressed: each row makes the same audio
    assert "ceiling" in result.output and "of ceiling" in result.output
    from ttsx.app.probes import step_weight_bytes

    per_step = step_weight_bytes(toy_artifact / "lm.onnx") / 1e6
    steps = one["decode_weight_mb"] / per_step  # decode steps of one run: every token after the prefill's
    assert abs(steps - round(steps)) < 1e-6 and one["steps"]["lm"] - 1 <= round(steps) <= one["steps"]["lm"]
    phases = one["phases"]["lm"]
    assert phases["steps"]["calls"] == round(steps) and phases["prefill"]["calls"] >= 1
    assert 0 < phases["prefill"]["s"] + phases["steps"]["s"] < one["total_s"]
    from ttsx.artifact.manifest import load_artifact

    spec = load_artifact(toy_artifact).graph_spec("lm")
    per_position = sum(t.shape[1] * t.shape[3] * 4 for t in spec.inputs if t.name.startswith("past_key_values"))
    positions = one["decode_cache_mb"] * 1e6 / per_position  # filled positions the decode steps read: whole ones
    assert positions > 0 and abs(positions - round(positions)) < 1e-6
    assert "lm steps s (calls)" in result.output
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000  # a drawn figure, not an empty canvas


def test_bench_runs_the_compiled_backend_once_and_reports_its_compiles(tiny_artifact, quantize):
    from ttsx.app.bench import Workload, run_bench

    results = run_bench([tiny_artifact, quantize("int8")], ("onnxruntime", "torch-compiled"), Workload(6, (1,), 1),
                        baseline=False)
    names = [r.runtime for r in results]
    assert names == ["ttsx onnxruntime fp32", "ttsx torch-compiled fp32", "ttsx onnxruntime int8"]
    compiled = results[1]
    assert compiled.steps == results[0].steps and compiled.audio_s == results[0].audio_s
    assert len(compiled.notes) == 1
    warmed = re.fullmatch(r"torch.compile: (\d+) graph\(s\) compiled in the warm-up, 0 after", compiled.notes[0])
    assert warmed and int(warmed.group(1)) > 0, compiled.notes  # (a compile after the warm-up voids the run)


def test_batch_sizes_after_one_flag_are_not_taken_for_artifacts():
    from ttsx.app.cli import expand_batches

    assert expand_batches(["a", "--batch", "1", "4", "8", "b", "--tokens", "3"]) == \
        ["a", "--batch", "1", "--batch", "4", "--batch", "8", "b", "--tokens", "3"]
    assert expand_batches(["--batch=2", "6", "--repeats", "1"]) == ["--batch=2", "--batch", "6", "--repeats", "1"]
    assert expand_batches(["a", "4", "--tokens", "4", "8"]) == ["a", "4", "--tokens", "4", "8"]


class EosEveryStep:
    """A causal runner whose logits always rank EOS first: a loop honouring EOS stops at once."""

    def __init__(self, vocab: int, eos: int):
        self.logits = np.zeros((1, vocab), np.float32)
        self.logits[0, eos], self.logits[0, 7] = 10.0, 5.0

    def start(self, feed, lengths, room):
        return {"logits": self.logits.copy()}

    def step(self, feed):
        return {"logits": self.logits.copy()}


def test_suppressing_eos_runs_every_sequence_to_the_token_limit():
    c = get_recipe("bark-tiny").constants
    runner, rng = EosEveryStep(10_048, c.semantic_pad), np.random.default_rng(0)
    feed = (np.zeros((1, 256), np.int64), np.zeros(256, np.int64), c)
    greedy = SamplingOptions(greedy=True)
    assert len(semantic_tokens(runner, *feed, SemanticOptions(greedy, 12), rng)[0]) == 0
    tokens = semantic_tokens(runner, *feed, SemanticOptions(greedy, 12, allow_eos=False), rng)[0]
    assert tokens.tolist() == [7] * 12


def test_the_batching_ceiling_shares_only_the_decode_steps():
    from ttsx.app.bench import BenchResult
    from ttsx.app.bench_report import batching_ceiling

    phases = {"a": {"prefill": {"calls": 1, "s": 2.0}, "steps": {"calls": 99, "s": 3.0}},
              "b": {"prefill": {"calls": 1, "s": 1.0}, "steps": {"calls": 9, "s": 1.0}}}
    single = BenchResult("r", 1, {"a": 10.0}, 10.0, 5.0, {"a": 100}, 0.0, 0.0, phases=phases, decode_cache_mb=1000.0,
                         read_gbs=1.0)
    # S = 4 s of the 10 s are decode steps, C = 1 s of them read the caches (per row): batch 4 takes at best
    # 3 + 4 x 7 = 31 s for 20 s of audio
    assert abs(batching_ceiling(single, 4) - 20 / 31) < 1e-12
    assert abs(batching_ceiling(single, 1) - single.throughput) < 1e-12
    untimed = BenchResult("r", 1, {"a": 10.0}, 10.0, 5.0, {}, 0.0, 0.0)
    assert batching_ceiling(untimed, 4) is None  # eager, tensorrt: not timed by phase, no ceiling is claimed


def test_two_artifacts_of_one_precision_are_told_apart(toy_artifact, tmp_path):
    import shutil

    from ttsx.app.bench import Workload, run_bench

    copy = tmp_path / "again"
    shutil.copytree(toy_artifact, copy)
    results = run_bench([toy_artifact, copy], workload=Workload(4, (1, 2), 1), baseline=False)
    names = [r.runtime for r in results if r.batch == 1]
    assert names == [f"ttsx onnxruntime fp32 ({toy_artifact})", f"ttsx onnxruntime fp32 ({copy})"]


def test_the_picture_splits_a_runs_time_into_prefill_steps_and_the_rest():
    from ttsx.app.bench import BenchResult
    from ttsx.app.bench_report import time_segments

    phased = BenchResult("ttsx onnxruntime fp32", 1, {"lm": 2.0, "vocoder": 0.5}, 2.5, 10.0, {"lm": 40}, 1.0, 100.0,
                         phases={"lm": {"prefill": {"calls": 1, "s": 0.3}, "steps": {"calls": 39, "s": 1.6}}})
    segments = time_segments(phased)
    assert list(segments) == ["lm prefill", "lm decode steps", "rest"]
    assert abs(sum(segments.values()) - phased.total_s) < 1e-9 and abs(segments["rest"] - 0.6) < 1e-9
    eager = BenchResult("eager toy fp32", 1, {"lm": 3.0, "vocoder": 0.5}, 3.5, 10.0, {"lm": 40}, 1.0, 100.0)
    assert time_segments(eager) == {"lm": 3.0, "vocoder": 0.5}  # not timed by phase: its stages
