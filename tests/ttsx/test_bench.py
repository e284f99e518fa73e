"""`ttsx bench` in CI size: it runs, every runtime does the same work, and the JSON holds the table."""
import json

import numpy as np
from click.testing import CliRunner

from ttsx.cli import main
from ttsx.recipes import get_recipe
from ttsx.recipes.bark.stages import SemanticOptions, semantic_tokens
from ttsx.runtimes.sampling import SamplingOptions


def test_bench_smoke_runs_transformers_and_ttsx_on_the_same_workload(tiny_artifact, quantize, tmp_path):
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(main, ["bench", str(tiny_artifact), str(quantize("int8")), "--tokens", "8",
                                       "--repeats", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "eager bark fp32" in result.output and "ttsx onnxruntime int8" in result.output
    report = json.loads(out.read_text())
    assert report["workload"] == {"tokens": 8, "batch": 1, "repeats": 1}
    runs = {r["runtime"]: r for r in report["results"]}
    assert set(runs) == {"eager bark fp32", "ttsx onnxruntime fp32", "ttsx onnxruntime int8"}
    assert len({r["audio_s"] for r in runs.values()}) == 1  # EOS suppressed: the same audio length everywhere
    assert {json.dumps(r["steps"], sort_keys=True) for r in runs.values()} == {'{"coarse": 24, "semantic": 8}'}
    for r in runs.values():
        assert set(r["stage_s"]) == {"semantic", "coarse", "fine", "codec"} and r["total_s"] > 0
        assert r["rtf"] == r["total_s"] / r["audio_s"] and r["peak_rss_mb"] > 0
    assert runs["eager bark fp32"]["speedup"] == 1.0


class EosEveryStep:
    """A causal runner whose logits always rank EOS first: a loop honouring EOS stops at once."""

    def __init__(self, vocab: int, eos: int):
        self.logits = np.zeros((1, vocab), np.float32)
        self.logits[0, eos], self.logits[0, 7] = 10.0, 5.0

    def start(self, feed):
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
