import numpy as np
import pytest

from ttsx.base.errors import FeedError
from ttsx.recipes import get_recipe
from ttsx.recipes.spec import GraphSpec, TensorSpec, Tolerance
from ttsx.runtimes.session import validate_feed

SPEC = get_recipe("toy-tiny").graph("lm")  # the test-only family's causal graph: 4 heads of 16
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
