import numpy as np
import pytest

from ttsx.base.errors import FeedError
from ttsx.recipes import get_recipe
from ttsx.recipes.spec import GraphSpec, TensorSpec, Tolerance
from ttsx.runtimes.session import validate_feed

SPEC = get_recipe("toy-tiny").graph_spec("lm")  # the test-only family's causal graph: 4 heads of 16
CODEC = GraphSpec("codec", "codec", inputs=(TensorSpec("codes", "int64", (1, 8, "frames")),),
                  outputs=(TensorSpec("waveform", "float32", (1, "samples")),), tolerance=Tolerance(0, 0),
                  min_sizes=(("frames", 7),))


def step_feed(batch=1, past=3, capacity=8):
    feed = {"input_ids": np.zeros((batch, 1), np.int64), "cache_lengths": np.full(batch, past, np.int32),
            "lengths": np.ones(batch, np.int32)}
    feed.update({p.past: np.zeros((batch, 4, capacity, 16), np.float32) for p in SPEC.cache})
    return feed


def test_a_good_feed_passes():
    validate_feed(SPEC, step_feed())


def test_missing_input_is_named():
    feed = step_feed()
    del feed["past_key_values.1.value"]
    with pytest.raises(FeedError, match="past_key_values.1.value"):
        validate_feed(SPEC, feed)


def test_wrong_dtype_says_how_to_fix():
    feed = step_feed()
    feed["input_ids"] = feed["input_ids"].astype(np.int32)
    with pytest.raises(FeedError, match=r"int32, expected int64; convert"):
        validate_feed(SPEC, feed)


def test_static_dim_mismatch():
    feed = step_feed()
    feed["past_key_values.0.key"] = np.zeros((1, 3, 8, 16), np.float32)
    with pytest.raises(FeedError, match="past_key_values.0.key"):
        validate_feed(SPEC, feed)


def test_inconsistent_symbolic_axis():
    feed = step_feed()
    feed["past_key_values.1.key"] = np.zeros((1, 4, 9, 16), np.float32)
    with pytest.raises(FeedError, match="capacity"):
        validate_feed(SPEC, feed)


def test_rows_must_fit_the_cache():
    with pytest.raises(FeedError, match="the cache holds 8"):
        validate_feed(SPEC, step_feed(past=8))


def test_a_chunk_after_a_filled_cache_needs_batch_one():
    feed = step_feed(batch=2)
    feed["input_ids"] = np.zeros((2, 3), np.int64)
    with pytest.raises(FeedError, match="must start from an empty cache"):
        validate_feed(SPEC, feed)
    feed["cache_lengths"][:] = 0
    feed["lengths"][:] = [3, 2]
    validate_feed(SPEC, feed)  # a prefill of ragged rows


def test_codec_minimum_frames():
    with pytest.raises(FeedError, match="at least 7"):
        validate_feed(CODEC, {"codes": np.zeros((1, 8, 6), np.int64)})


def test_a_phased_session_prefills_on_one_graph_and_steps_on_the_other(toy_quantize):
    """An int4 artifact's cached graph: the prefill runs on the int8 prefill graph, each step on the int4 graph, over
    one cache (the steps see the prefill's cache: changing the prompt changes the step's logits)."""
    from ttsx.artifact.manifest import load_artifact
    from ttsx.runtimes.causal import CausalRunner
    from ttsx.runtimes.factory import open_session

    artifact = load_artifact(toy_quantize("int4"))
    calls = []

    def step_logits(prompt):
        with open_session(artifact, "lm") as session:
            for phase in ("prefill", "step"):
                inner = getattr(session, phase)
                run = inner._run
                inner._run = lambda feed, host, run=run, phase=phase: (calls.append(phase), run(feed, host))[1]
            runner = CausalRunner(session)
            runner.start({"input_ids": np.array([prompt], np.int64)}, [len(prompt)], 4)
            logits = [runner.step({"input_ids": np.array([[7]], np.int64)})["logits"].copy() for _ in range(3)]
            runner.close()
            return np.stack(logits)

    first = step_logits([3, 4, 5, 6, 7])
    assert calls == ["prefill", "step", "step", "step"]
    assert not np.allclose(first, step_logits([9, 9, 9, 9, 9]))
