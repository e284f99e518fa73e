"""ChatTTS's session fixtures (found by tests/conftest.py); each skips, saying why, without the chattts package."""
import pytest

from ttsx_test_support import export_random, quantizer, reference

TENSORRT_ARTIFACTS = {"chattts-tiny": "chattts_tensorrt_artifact"}


@pytest.fixture(scope="session")
def chattts_artifact(tmp_path_factory):
    """A chattts-tiny artifact exported from seeded random weights (seed 0); skips without the chattts package."""
    from ttsx.base.errors import SourceError
    from ttsx.recipes.families.chattts.reference import import_chattts

    try:
        import_chattts()
    except SourceError as exc:
        pytest.skip(f"NOT CHECKED: ChatTTS family ({exc})")
    return export_random(tmp_path_factory, "chattts-tiny", "chattts-tiny")


@pytest.fixture(scope="session")
def chattts_tensorrt_artifact(chattts_artifact, tmp_path_factory):
    """chattts-tiny exported with TensorRT's cache flavour (seed 0); skips without the chattts package."""
    return export_random(tmp_path_factory, "chattts-tiny", "chattts-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture(scope="session")
def chattts_reference(chattts_artifact):
    """The chattts-tiny reference Chat with the same seed as chattts_artifact."""
    return reference("chattts-tiny")


@pytest.fixture(scope="session")
def chattts_quantized(chattts_artifact, tmp_path_factory):
    """chattts_quantized(precision) -> chattts-tiny at that precision (12 calibration tokens), made once."""
    return quantizer(chattts_artifact, tmp_path_factory, "chattts-quantized", calibration_tokens=12)
