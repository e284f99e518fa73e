"""The end-to-end gate of reduced precisions is teacher-forced: one flipped near-tie costs one choice, not the run.

The old gate (free-running greedy agreement against a budget) turns on such a flip: every later token of
that row, and every later stage's input, differs. A session wrapper flips the first semantic choice of
one row, as a quantized graph does at a near-tie; the free-running share then falls below a budget that
the teacher-forced share still meets.
"""
import numpy as np
import pytest

from ttsx.checks.agreement import AGREEMENT_TOKENS, greedy_agreement, token_agreement
from ttsx.recipes.families.bark.family import AGREEMENT_PROMPTS
from ttsx.artifact.manifest import load_artifact
from ttsx.base.errors import TtsxError
from ttsx.runtimes import forcing
from ttsx.runtimes.session import SessionWrapper

BUDGET = 0.9  # a budget like the fp16 ones


class FlipFirstChoice(SessionWrapper):
    """The semantic prefill's logits with row 0's runner-up raised above its best (a near-tie that flips)."""

    def _run(self, feed, host):
        out = self.inner._run(feed, host)
        if self.spec.name == "semantic" and np.shape(feed["input_ids"])[1] > 1:
            logits = np.array(out["logits"], copy=True)
            row = logits[0, -1, :10000] if logits.ndim == 3 else logits[0, :10000]
            best, runner_up = np.argsort(row)[-1], np.argsort(row)[-2]
            row[runner_up] = row[best] + 1.0
            out = {**out, "logits": logits}
        return out


@pytest.fixture(scope="module")
def flipped(tiny_artifact, tiny_reference):
    artifact = load_artifact(tiny_artifact)
    return {a.stage: a for a in greedy_agreement(artifact, tiny_reference, "onnxruntime", wrap=FlipFirstChoice)}


def test_one_flip_fails_the_free_running_gate(flipped):
    semantic = flipped["semantic"]
    assert semantic.first_divergence == 0
    assert min(a.free_share for a in flipped.values()) < BUDGET, {s: a.free_share for s, a in flipped.items()}


def test_one_flip_costs_one_choice_under_teacher_forcing(flipped):
    semantic = flipped["semantic"]
    assert semantic.forced_choices == len(AGREEMENT_PROMPTS) * AGREEMENT_TOKENS
    assert semantic.forced_share == pytest.approx(1 - 1 / semantic.forced_choices)
    assert all(a.forced_share >= BUDGET for a in flipped.values())
    assert flipped["coarse"].forced_share == flipped["fine"].forced_share == 1.0  # fed the reference's semantic tokens


def test_an_unchanged_pipeline_agrees_fully_both_ways(tiny_artifact, tiny_reference):
    runs = greedy_agreement(load_artifact(tiny_artifact), tiny_reference, "onnxruntime")
    assert [(a.free_share, a.forced_share) for a in runs] == [(1.0, 1.0)] * 3


def test_forcing_replays_choices_and_counts_agreement():
    with forcing.record() as recorded, forcing.stage("s"):
        forcing.observe(np.array([1, 2]))
        forcing.observe(np.array([3, 4]))
    with forcing.force(recorded.choices) as forcer, forcing.stage("s"):
        assert forcing.observe(np.array([1, 9])).tolist() == [1, 2]  # the reference's choice goes on
        assert forcing.observe(np.array([7, 4]), counted=np.array([False, True])).tolist() == [3, 4]
    assert forcer.shares() == {"s": (2 / 3, 3)}
    assert forcing.observe(np.array([5])).tolist() == [5]  # outside: untouched


def test_forcing_refuses_pipelines_that_run_other_steps():
    with forcing.record() as recorded, forcing.stage("s"):
        forcing.observe(np.array([1, 2]))
    with pytest.raises(TtsxError, match="do not run the same steps"), forcing.force(recorded.choices), \
            forcing.stage("s"):
        forcing.observe(np.array([1, 2, 3]))
    with forcing.force(recorded.choices) as forcer:
        pass
    with pytest.raises(TtsxError, match="stopped before the reference's last choices"):
        forcer.shares()


def test_token_agreement_is_the_free_running_figure():
    assert token_agreement([np.array([1, 2, 3])], [np.array([1, 5, 3])]) == (2 / 3, 1)
