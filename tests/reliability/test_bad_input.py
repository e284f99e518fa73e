"""Fuzzed bad input: every case is a clear TtsxError / usage error with a non-zero exit, never a crash or hang."""
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import ttsx
from ttsx.app.cli import main
from ttsx.base.errors import FeedError, TtsxError
from ttsx.recipes import recipe_names
from ttsx.recipes.families.bark.pipeline import BarkOptions

FAST = BarkOptions.greedy(2, seed=0, batch_size=16)  # 2 semantic tokens per piece: seconds per call
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def pipeline(tiny_artifact):
    with ttsx.load(tiny_artifact) as loaded:
        yield loaded


@FUZZ
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_text_gives_audio_or_a_clear_error(pipeline, text):
    """Every script, control characters, whitespace, empty: audio, or a TtsxError naming the text."""
    try:
        speech = pipeline(text, options=FAST)
    except TtsxError as exc:
        assert "empty or tokenizes to nothing" in str(exc)
        assert not text.strip()  # only text with no words is refused
        return
    assert len(speech.audio) == 1 and speech.audio[0].size > 0 and np.isfinite(speech.audio[0]).all()


def test_100_kb_text_is_split_and_synthesized(pipeline):
    text = "A sentence that goes on for a while. " * 2800  # 103 600 characters
    speech = pipeline(text, options=BarkOptions.greedy(1, seed=0, batch_size=64))
    assert len(speech.audio) == 1 and len(speech.semantic) > 100


@pytest.mark.parametrize("text", ["a\udc80 lone surrogate", b"invalid \xff UTF-8".decode("utf-8", "surrogateescape")])
def test_text_that_is_not_valid_unicode_is_a_ttsx_error(pipeline, text):
    with pytest.raises(TtsxError, match="not valid Unicode.*remove lone surrogates"):
        pipeline(text, options=FAST)


def test_non_text_input_is_refused(pipeline):
    with pytest.raises(TtsxError, match="expected str"):
        pipeline([b"bytes are not text"], options=FAST)


ARRAYS = hnp.arrays(dtype=st.sampled_from([np.int64, np.int32, np.float32, np.float64, np.bool_]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6))


@pytest.fixture(scope="module")
def sessions(tiny_artifact):
    from ttsx.artifact.manifest import load_artifact
    from ttsx.runtimes.factory import open_session

    artifact = load_artifact(tiny_artifact)
    opened = {name: open_session(artifact, name) for name in ("coarse", "fine", "codec")}
    yield opened
    for session in opened.values():
        session.close()


@FUZZ
@given(graph=st.sampled_from(["coarse", "fine", "codec"]), data=st.data())
def test_fuzzed_feeds_are_feed_errors(sessions, graph, data):
    """Random dtypes, shapes and values for every input: the session answers or raises FeedError."""
    session = sessions[graph]
    feed = {}
    for t in session.spec.inputs:
        if data.draw(st.booleans(), label=f"{t.name} well formed"):
            shape = tuple(d if isinstance(d, int) else 2 for d in t.shape)
            feed[t.name] = data.draw(hnp.arrays(t.dtype, shape, elements=_elements(t)), label=t.name)
        else:
            feed[t.name] = data.draw(ARRAYS, label=t.name)
    try:
        outputs = session.run(feed)
    except FeedError:
        return
    assert set(outputs) == set(session.spec.output_names)


def _elements(t):
    if not t.dtype.startswith("int"):
        return st.floats(-3, 3, width=32)
    low, high = t.bounds or (0, 10)
    info = np.iinfo(t.dtype)
    return st.integers(max(low - 2, info.min), min(high + 1, info.max))  # sometimes out of range on purpose


@pytest.mark.parametrize("graph,name,value,message", [
    ("coarse", "input_ids", 12_096, "valid ids are 0..12095"),
    ("fine", "codebook_idx", 0, "valid ids are 1..7"),
    ("codec", "codes", -1, "valid ids are 0..1023"),
])
def test_out_of_range_ids_are_named(sessions, graph, name, value, message):
    session = sessions[graph]
    feed = {t.name: np.full(tuple(d if isinstance(d, int) else 8 for d in t.shape), (t.bounds or (0,))[0], t.dtype)
            for t in session.spec.inputs}  # every id at its lowest valid value ...
    feed[name] = np.full_like(feed[name], value)  # ... but one input out of range
    with pytest.raises(FeedError, match=message):
        session.run(feed)


@FUZZ
@given(name=st.text(max_size=30).filter(lambda n: n not in recipe_names()))
def test_fuzzed_recipe_names_are_refused_with_the_known_list(tmp_path, name):
    result = CliRunner().invoke(main, ["export", "--recipe", name, "--random-weights", "-o", str(tmp_path / "o")])
    assert result.exit_code in (1, 2)
    assert isinstance(result.exception, SystemExit)  # a handled error, not a crash
    assert "known recipes: bark, bark-small, bark-tiny" in result.output or "Usage" in result.output
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args", [
    ["--temperature", "-1"], ["--top-p", "2"], ["--top-k", "0"], ["--max-tokens", "0"],
    ["--max-tokens", "100000"], ["--seed", "x"], ["--backend", "tensorflow"], ["--voice", "../../etc/passwd"],
    ["--seed", "-1"], ["--top-p", "nan"], ["--top-p", "1e-320"], ["--temperature", "inf"], ["--temperature", "nan"],
    ["--temperature", "1e-300"], ["--temperature", "1e308"], ["--temperature", "10.5"],
])
def test_bad_synthesize_options_exit_non_zero_with_a_message(tiny_artifact, tmp_path, args):
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "hi", "-o", str(tmp_path / "x.wav"), *args])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)
    assert "Error" in result.output
    assert not (tmp_path / "x.wav").exists()
