import numpy as np
import pytest

from ttsx.errors import FeedError
from ttsx.recipes import get_recipe
from ttsx.runtimes.session import validate_feed

SPEC = get_recipe("bark-tiny").graph("semantic_decode")
CODEC = get_recipe("bark-tiny").graph("codec")


def decode_feed(batch=1, past=3):
    feed = {"input_ids": np.zeros((batch, 1), np.int64)}
    feed.update({n: np.zeros((batch, 2, past, 16), np.float32) for n in SPEC.input_names[1:]})
    return feed


def test_a_good_feed_passes():
    validate_feed(SPEC, decode_feed())


def test_missing_input_is_named():
    feed = decode_feed()
    del feed["past_key_values.1.value"]
    with pytest.raises(FeedError, match="past_key_values.1.value"):
        validate_feed(SPEC, feed)


def test_wrong_dtype_says_how_to_fix():
    feed = decode_feed()
    feed["input_ids"] = feed["input_ids"].astype(np.int32)
    with pytest.raises(FeedError, match=r"int32, expected int64; convert"):
        validate_feed(SPEC, feed)


def test_static_dim_mismatch():
    feed = decode_feed()
    feed["past_key_values.0.key"] = np.zeros((1, 3, 3, 16), np.float32)
    with pytest.raises(FeedError, match="past_key_values.0.key"):
        validate_feed(SPEC, feed)


def test_inconsistent_symbolic_axis():
    feed = decode_feed()
    feed["past_key_values.1.key"] = np.zeros((1, 2, 4, 16), np.float32)
    with pytest.raises(FeedError, match="past_sequence"):
        validate_feed(SPEC, feed)


def test_codec_minimum_frames():
    with pytest.raises(FeedError, match="at least 7"):
        validate_feed(CODEC, {"codes": np.zeros((1, 8, 6), np.int64)})
