"""The Parler-TTS reference venv: parler-tts as released (transformers 4.46.1, its pin) with descript's own DAC.

    venv (~/.cache/ttsx/parler-reference-KEY, or TTSX_PARLER_REFERENCE_VENV)
      own site-packages: transformers 4.46.1 (+ tokenizers 0.20, huggingface-hub < 1), descript-audio-codec 1.0.0,
                         descript-audiotools 0.7.2 and the few of their imports the main install lacks,
                         protobuf < 3.20 (audiotools' pin), all with --no-deps
      ttsx-parent-site.pth: the running interpreter's site-packages (torch, parler_tts, numpy, ...), after its own

`venv --system-site-packages` would show the *base* interpreter's packages, which from inside a user's venv
lack torch; the .pth file shows the running interpreter's, wherever it is. audiotools' torchaudio (a CUDA build
on the registry) and tensorboard imports get stand-ins (stand_ins.py; DAC's decode calls neither). A cached
venv is reused only if it runs the reference's imports and names the same folders; otherwise it is rebuilt.
"""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ORIGINAL = "transformers==4.46.1"  # what parler-tts 0.2.3 pins
PACKAGES = (ORIGINAL, "tokenizers>=0.20,<0.21", "huggingface-hub>=0.23.2,<1", "descript-audio-codec==1.0.0",
            "descript-audiotools==0.7.2", "protobuf<3.20", "argbind", "julius", "pyloudnorm", "flatten-dict",
            "markdown2", "randomname", "ffmpy", "importlib-resources", "docstring-parser")
NEEDS = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import stand_ins; stand_ins.install(); "
         "import importlib.util, torch, transformers, dac; assert importlib.util.find_spec('parler_tts'), 'no parler_tts'; "
         "assert transformers.__version__ == '4.46.1', transformers.__version__")
PARENT = "ttsx-parent-site.pth"  # the venv's file naming the running interpreter's package folders


def reference_venv() -> Path:
    """The reference venv's python, built once (see the module docstring); skips (fails under CI) if it can't be."""
    parents = _package_folders()
    key = hashlib.sha256("\n".join(parents + list(PACKAGES)).encode()).hexdigest()[:10]
    root = Path(os.environ.get("TTSX_PARLER_REFERENCE_VENV", Path.home() / ".cache" / "ttsx" / f"parler-reference-{key}"))
    python = root / "bin" / "python"
    if python.exists() and _parents_of(python) == parents and _runs(python, NEEDS)[0]:
        return python
    shutil.rmtree(root, ignore_errors=True)
    made = subprocess.run([sys.executable, "-m", "venv", str(root)], capture_output=True, text=True)
    ok, why = made.returncode == 0, made.stderr
    if ok:  # first its own packages, into a venv that sees nothing else, so pip leaves the parent alone
        pip = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--no-deps", *PACKAGES], capture_output=True, text=True)
        ok, why = pip.returncode == 0, pip.stderr
    if ok:
        ok, site = _runs(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
        (Path(site.strip()) / PARENT).write_text("\n".join(parents) + "\n") if ok else None
    if ok:
        ok, why = _runs(python, NEEDS)
    if not ok:
        if os.environ.get("CI"):
            raise AssertionError(f"could not build the Parler-TTS reference venv at {root}: {why[-600:]}")
        pytest.skip(f"NOT CHECKED: parler_tts as released (its reference venv could not be built: {why[-600:]})")
    return python


def run_script(script: str, *args: str, timeout: int = 900) -> None:
    """Run one of this folder's scripts in the reference venv; AssertionError with its stderr if it fails."""
    run = subprocess.run([str(reference_venv()), str(HERE / script), *args], capture_output=True, text=True,
                         timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]


def _package_folders() -> list[str]:
    """The site-packages folders the running interpreter imports installed packages from (its venv's, or the
    system's, and the base's where a venv shows them)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


def _parents_of(python: Path) -> list[str] | None:
    """The folders a venv's PARENT file names, or None without one."""
    ok, site = _runs(python, "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    file = Path(site.strip()) / PARENT if ok else None
    return file.read_text().split() if file and file.is_file() else None


def _runs(python: Path, code: str) -> tuple[bool, str]:
    """(exit 0, its stdout or else its stderr) of `python -c code`."""
    run = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return run.returncode == 0, run.stdout if run.returncode == 0 else run.stderr
