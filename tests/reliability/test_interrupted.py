"""SIGKILL at many moments of `ttsx export` / `ttsx quantize`, and a full disk: never a half-written artifact.

Run on the test-only toy family (tests/plugin_family): the writer is generic."""
import resource
import signal
import subprocess
import sys
import time

import pytest

from ttsx.artifact.manifest import load_artifact

EXPORT = [sys.executable, "-m", "ttsx", "export", "--recipe", "toy-tiny", "--random-weights", "--force"]
# Moments to kill at: when a progress line containing the text appears on stderr ("" = after a delay).
MOMENTS = ["loading reference", "graphs 1/2: lm exported", "graphs 2/2: vocoder exported", "hashing files"]


def _run_and_kill(command, trigger: str, delay: float = 0.0) -> int:
    """Start command, SIGKILL it once `trigger` shows on stderr (then after `delay` s); its exit code.

    A trigger that never shows fails the test: the kill would not have happened."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        if trigger in line:
            time.sleep(delay)
            process.send_signal(signal.SIGKILL)
            break
    else:
        process.wait()
        pytest.fail(f"{trigger!r} never appeared on stderr, so nothing was killed; it said:\n{''.join(seen)}")
    process.stderr.close()
    return process.wait()


def _state(out) -> str:
    if not out.exists():
        return "absent"
    load_artifact(out)  # raises if OUT holds anything but a complete, verified artifact
    return "complete"


@pytest.mark.parametrize("trigger", MOMENTS)
def test_killed_first_export_leaves_nothing_or_a_complete_artifact(tmp_path, trigger):
    out = tmp_path / "art"
    code = _run_and_kill(EXPORT + ["-o", str(out)], trigger)
    assert code in (-signal.SIGKILL, 0)
    assert _state(out) in ("absent", "complete")
    rerun = subprocess.run(EXPORT + ["-o", str(out)], capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert _state(out) == "complete"


@pytest.mark.parametrize("trigger,delay", [("graphs 2/2", 0.0), ("hashing files", 0.05)])
def test_killed_re_export_leaves_a_complete_artifact_or_none(toy_copy, trigger, delay):
    """Killed before the swap: the previous artifact; after: the new one; between two renames: none."""
    _run_and_kill(EXPORT + ["-o", str(toy_copy)], trigger, delay)
    assert _state(toy_copy) in ("complete", "absent")
    assert subprocess.run(EXPORT + ["-o", str(toy_copy)], capture_output=True).returncode == 0
    assert _state(toy_copy) == "complete"


@pytest.mark.parametrize("trigger", ["graphs 1/2", "graphs 2/2"])
def test_killed_quantize_leaves_nothing_or_a_complete_artifact(toy_artifact, tmp_path, trigger):
    out = tmp_path / "int8"
    command = [sys.executable, "-m", "ttsx", "quantize", str(toy_artifact), "--precision", "int8", "-o", str(out)]
    _run_and_kill(command, trigger)
    assert _state(out) in ("absent", "complete")
    assert subprocess.run(command + ["--force"], capture_output=True).returncode == 0
    assert load_artifact(out).precision == "int8"


def _limit_file_size():
    limit = 256 << 10  # 256 KiB: the toy LM's weights file is about 700 KiB
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE makes writes past 256 KiB fail with EFBIG, as a full disk fails them with ENOSPC."""
    out = tmp_path / "art"
    result = subprocess.run(EXPORT + ["-o", str(out)], capture_output=True, text=True, preexec_fn=_limit_file_size)
    assert result.returncode == 1
    assert "out of disk space while writing" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # the staging directory was removed too
