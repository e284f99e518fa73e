"""GPT-SoVITS's session fixtures (found by tests/conftest.py). Upstream's code is the user's checkout:
GPT_SOVITS_HOME, else ../shared's unchanged subset; without either the family's tests skip, saying so."""
import os
from pathlib import Path

import pytest

from ttsx_test_support import export_random, quantizer, reference

SHARED_CHECKOUT = Path(__file__).resolve().parents[4] / "shared" / "third_party" / "GPT-SoVITS"
TENSORRT_ARTIFACTS = {"gpt-sovits-tiny": "gpt_sovits_tensorrt_artifact"}


@pytest.fixture(scope="session")
def gpt_sovits_home():
    """GPT_SOVITS_HOME for the session: the user's, else ../shared's unchanged upstream subset; skips without one."""
    home = os.environ.get("GPT_SOVITS_HOME") or (str(SHARED_CHECKOUT) if SHARED_CHECKOUT.is_dir() else None)
    if not home:
        pytest.skip(f"NOT CHECKED: GPT-SoVITS family (no GPT_SOVITS_HOME and no {SHARED_CHECKOUT})")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPT_SOVITS_HOME", home)
        yield Path(home)


@pytest.fixture(scope="session")
def gpt_sovits_artifact(gpt_sovits_home, tmp_path_factory):
    """A gpt-sovits-tiny artifact exported from seeded random weights (seed 0)."""
    return export_random(tmp_path_factory, "gpt-sovits-tiny", "gpt-sovits-tiny")


@pytest.fixture(scope="session")
def gpt_sovits_reference(gpt_sovits_home):
    """The gpt-sovits-tiny reference (upstream's t2s and SoVITS models) with the same seed as gpt_sovits_artifact."""
    return reference("gpt-sovits-tiny")


@pytest.fixture(scope="session")
def gpt_sovits_tensorrt_artifact(gpt_sovits_home, tmp_path_factory):
    """gpt-sovits-tiny exported with TensorRT's cache flavour (seed 0)."""
    return export_random(tmp_path_factory, "gpt-sovits-tiny", "gpt-sovits-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture(scope="session")
def gpt_sovits_quantized(gpt_sovits_artifact, tmp_path_factory):
    """gpt_sovits_quantized(precision) -> gpt-sovits-tiny at that precision, made once."""
    return quantizer(gpt_sovits_artifact, tmp_path_factory, "gsv-quantized")
