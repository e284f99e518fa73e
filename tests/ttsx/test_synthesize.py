import wave

import numpy as np
import pytest
from click.testing import CliRunner

import ttsx
from ttsx.app.cli import main
from ttsx.base.errors import TtsxError
from ttsx.recipes.families.bark.pipeline import BarkOptions
from ttsx.runtimes.text import ByteTokenizer, split_for_window

FAST = ["--max-tokens", "20", "--seed", "0"]


def test_synthesize_writes_24khz_wav(tiny_artifact, tmp_path):
    out = tmp_path / "speech.wav"
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hello there.", "-o", str(out), *FAST])
    assert result.exit_code == 0, result.output
    assert "semantic:" in result.output and "codec" in result.output  # progress per stage
    with wave.open(str(out)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (24_000, 1, 2)
        assert f.getnframes() > 0


def test_batch_file_writes_one_wav_per_line(tiny_artifact, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("One.\n\nTwo, three.\nFour!\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "--batch-file", str(texts),
                                       "-o", str(tmp_path / "out.wav"), *FAST])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.glob("out-*.wav")) == ["out-001.wav", "out-002.wav", "out-003.wav"]


@pytest.mark.parametrize("args, message", [
    (["   "], "empty or tokenizes to nothing"),
    (["hi", "--voice", "v2/nobody"], "unknown voice 'v2/nobody'"),
    (["hi", "--temperature", "0"], "temperature"),
    ([], "either TEXT or --batch-file"),
])
def test_bad_input_is_a_clear_error_and_leaves_no_wav(tiny_artifact, tmp_path, args, message):
    out = tmp_path / "x.wav"
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), *args, "-o", str(out), *FAST])
    assert result.exit_code != 0
    assert message in result.output
    assert list(tmp_path.iterdir()) == []


def test_invalid_utf8_batch_file(tiny_artifact, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"caf\xe9\n")
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "--batch-file", str(bad),
                                       "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 2 and "not valid UTF-8" in result.output


def test_artifact_of_other_recipe_or_tampered_is_refused(tiny_copy, tmp_path):
    (tiny_copy / "fine.onnx.data").write_bytes(b"truncated")
    result = CliRunner().invoke(main, ["synthesize", str(tiny_copy), "hi", "-o", str(tmp_path / "x.wav")])
    assert result.exit_code == 1 and "fine.onnx.data changed since export" in result.output
    assert not (tmp_path / "x.wav").exists()


def test_long_text_is_split_at_sentences_and_joined(tiny_artifact):
    tokenizer = ByteTokenizer(1000)
    sentence = "This sentence has exactly enough words to matter here. "
    text = sentence * 12  # ~670 byte tokens: three Bark windows
    pieces = split_for_window(text.strip(), tokenizer, 256)
    assert len(pieces) == 3 and all(len(tokenizer.encode(p)) <= 256 for p in pieces)
    assert all(p.endswith(".") for p in pieces)
    with ttsx.load(tiny_artifact) as pipeline:
        speech = pipeline(text, options=BarkOptions.greedy(8))
    assert len(speech.semantic) == 3 and len(speech.audio) == 1
    assert len(speech.audio[0]) == sum(len(x) // 2 for x in speech.coarse) * 320


def test_api_rejects_non_text(tiny_artifact):
    with ttsx.load(tiny_artifact) as pipeline, pytest.raises(TtsxError, match="expected str"):
        pipeline(["ok", 3])


def test_voice_with_out_of_range_ids_is_refused(tiny_artifact, tmp_path):
    voice = tmp_path / "bad.npz"
    np.savez(voice, semantic_prompt=np.array([1, 2, 10_000]), coarse_prompt=np.zeros((2, 4), np.int64),
             fine_prompt=np.zeros((8, 4), np.int64))
    with ttsx.load(tiny_artifact) as pipeline, pytest.raises(TtsxError, match=r"semantic_prompt.*\[0, 10000\)"):
        pipeline("hi", voice=voice, options=BarkOptions.greedy(4))


def _wav(path):
    with wave.open(str(path)) as f:
        return f.getframerate(), f.readframes(f.getnframes())


def test_stream_writes_the_same_wav_as_the_whole_call_for_a_whole_piece_family(tiny_artifact, tmp_path):
    """Bark streams piece by piece (no streamer inside a piece): --stream's file equals the plain call's."""
    text = "A first sentence for the window. " * 9 + "And then the last one."  # two pieces
    whole, streamed = tmp_path / "whole.wav", tmp_path / "streamed.wav"
    for out, extra in ((whole, []), (streamed, ["--stream"])):
        result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), text, "-o", str(out), *FAST, *extra])
        assert result.exit_code == 0, result.output
    assert _wav(streamed) == _wav(whole)
    assert "first audio after" in result.output and not list(tmp_path.glob("*.partial"))


def test_stream_to_stdout_is_raw_pcm(tiny_artifact, tmp_path):
    out = tmp_path / "whole.wav"
    CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hello there.", "-o", str(out), *FAST])
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hello there.", "-o", "-", "--stream", *FAST])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == _wav(out)[1]


@pytest.mark.parametrize("args, message", [
    (["--chunk", "5"], "only apply with --stream"),
    (["--stream", "--chunk", "5"], "streams whole pieces"),
])
def test_stream_settings_a_family_lacks_are_refused(tiny_artifact, tmp_path, args, message):
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hi.", "-o", str(tmp_path / "x.wav"), *args])
    assert result.exit_code != 0 and message in result.output, result.output
    assert not list(tmp_path.iterdir())


def test_an_interrupted_stream_leaves_no_file(tiny_artifact, tmp_path, monkeypatch):
    from ttsx.recipes.families.bark.pipeline import BarkPipeline

    def broken(self, *args, **kwargs):
        yield np.zeros(100, np.float32)
        raise TtsxError("the model failed mid-stream")

    monkeypatch.setattr(BarkPipeline, "stream_piece", broken)
    out = tmp_path / "x.wav"
    result = CliRunner().invoke(main, ["synthesize", str(tiny_artifact), "Hi.", "-o", str(out), "--stream", *FAST])
    assert result.exit_code != 0 and "failed mid-stream" in result.output
    assert not list(tmp_path.iterdir())  # neither x.wav nor x.wav.partial
