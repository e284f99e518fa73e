"""The installed environment stays usable outside ttsx: transformers' Bark imports, no torchaudio warnings."""
import importlib.util
import subprocess
import sys

import pytest


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_transformers_bark_imports_without_ttsx():
    result = _python("from transformers import BarkModel; print(BarkModel.__name__)")
    assert result.returncode == 0 and result.stdout.strip() == "BarkModel", result.stderr[-2000:]


def test_torchaudio_is_absent_or_loads():
    """A torchaudio that can't load (the registry's CUDA build beside the CPU torch) breaks transformers."""
    result = _python("import importlib.util, sys\n"
                     "if importlib.util.find_spec('torchaudio') is None: sys.exit(0)\n"
                     "import torchaudio")
    assert result.returncode == 0, result.stderr[-2000:]


def test_ttsx_and_chattts_load_without_a_torchaudio_warning():
    if importlib.util.find_spec("vocos") is None or importlib.util.find_spec("ChatTTS") is None:
        pytest.skip("NOT CHECKED: the chattts packages are not installed")
    result = _python("import warnings; warnings.simplefilter('always')\n"
                     "import ttsx\n"
                     "from transformers import BarkModel\n"
                     "from ttsx.recipes.families.chattts.reference import import_chattts\n"
                     "import_chattts(); import vocos")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torchaudio" not in result.stderr, result.stderr[-2000:]
