"""Output paths checked before any work; input files (batch files, voices) read within stated limits (on the toy family)."""
import os

import numpy as np
import pytest
from click.testing import CliRunner

from ttsx.app.cli import main
from ttsx.base.errors import TtsxError
from ttsx.base.files import MAX_TEXT_FILE_BYTES, MAX_VOICE_ELEMENTS, check_output, load_npz

FAST = ["--max-tokens", "20", "--seed", "0"]


def _synthesize(artifact, *args):
    return CliRunner().invoke(main, ["synthesize", str(artifact), *args, *FAST])


def test_a_symlink_at_the_output_path_is_not_replaced(toy_artifact, tmp_path):
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    (tmp_path / "link.wav").symlink_to(target)
    result = _synthesize(toy_artifact, "Hello.", "-o", str(tmp_path / "link.wav"))
    assert result.exit_code == 1 and "is a symlink" in result.output, result.output
    assert "lm:" not in result.output  # refused before any work (the toy pipeline says "lm: ..." first)
    assert (tmp_path / "link.wav").is_symlink() and target.read_text() == "keep me"


def test_a_device_or_fifo_at_the_output_path_is_not_replaced(tmp_path):
    os.mkfifo(tmp_path / "pipe.wav")
    for path in (tmp_path / "pipe.wav", "/dev/null"):
        with pytest.raises(TtsxError, match="not a regular file"):
            check_output(path)
    assert (tmp_path / "pipe.wav").exists() and not (tmp_path / "pipe.wav").is_file()


def test_a_missing_or_read_only_output_directory_fails_before_the_work(toy_artifact, tmp_path):
    result = _synthesize(toy_artifact, "Hello.", "-o", str(tmp_path / "missing" / "out.wav"))
    assert result.exit_code == 1 and "does not exist; create it first" in result.output, result.output
    assert "lm:" not in result.output
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        with pytest.raises(TtsxError, match="can't be written"):
            check_output(tmp_path / "ro" / "out.wav")


def test_bench_json_into_a_missing_directory_fails_before_the_benchmark(toy_artifact, tmp_path):
    result = CliRunner().invoke(main, ["bench", str(toy_artifact), "--tokens", "4", "--repeats", "1",
                                       "--json", str(tmp_path / "missing" / "bench.json")])
    assert result.exit_code == 1 and "does not exist; create it first" in result.output, result.output
    assert "eager" not in result.output


@pytest.mark.parametrize("kind", ["fifo", "device", "too big"])
def test_batch_files_must_be_small_regular_files(toy_artifact, tmp_path, kind):
    path = tmp_path / "texts.txt"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block forever
    elif kind == "device":
        path = "/dev/zero"  # reading it would never end
    else:
        path.write_text("hi\n" * (MAX_TEXT_FILE_BYTES // 3 + 1))
    result = _synthesize(toy_artifact, "--batch-file", str(path), "-o", str(tmp_path / "o.wav"))
    assert result.exit_code != 0
    assert ("not a regular file" if kind != "too big" else f"at most {MAX_TEXT_FILE_BYTES} are read") in result.output


def test_a_voice_array_too_large_once_read_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "bomb.npz"  # a few KB compressed, MAX_VOICE_ELEMENTS + 1 elements
    np.savez_compressed(path, semantic_prompt=np.zeros(MAX_VOICE_ELEMENTS + 1, np.int8),
                        coarse_prompt=np.zeros((2, 3), np.int64), fine_prompt=np.zeros((8, 3), np.int64))
    assert path.stat().st_size < 100_000
    with pytest.raises(TtsxError, match=rf"semantic_prompt.npy has shape \({MAX_VOICE_ELEMENTS + 1},\); at most"):
        load_npz(path, ("semantic_prompt", "coarse_prompt", "fine_prompt"))


def test_a_voice_that_is_not_an_npz_is_named(tmp_path):
    (tmp_path / "v.npz").write_bytes(b"not a zip")
    with pytest.raises(TtsxError, match="can't be read as a plain .npz"):
        load_npz(tmp_path / "v.npz", ("spk_emb",))
