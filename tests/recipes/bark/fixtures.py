"""Bark's session fixtures (found by tests/conftest.py): bark-tiny, exported once, is also the artifact the generic
CLI, runtime and reliability tests run."""
import pytest

from ttsx_test_support import copy_artifact, export_random, quantizer

TENSORRT_ARTIFACTS = {"bark-tiny": "tiny_tensorrt_artifact"}


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """A bark-tiny artifact exported from seeded random weights (seed 0)."""
    return export_random(tmp_path_factory, "bark-tiny", "bark-tiny")


@pytest.fixture
def tiny_copy(tiny_artifact, tmp_path):
    """A private copy of the tiny artifact that a test may damage."""
    return copy_artifact(tiny_artifact, tmp_path, "copy")


@pytest.fixture(scope="session")
def tiny_reference():
    """The bark-tiny reference BarkModel with the same seed as tiny_artifact."""
    from ttsx.recipes import get_recipe
    from ttsx.recipes.families.bark.reference import random_reference

    return random_reference(get_recipe("bark-tiny"), seed=0)


@pytest.fixture(scope="session")
def quantize(tiny_artifact, tmp_path_factory):
    """quantize(precision) -> the tiny artifact at that precision (made once per test session)."""
    return quantizer(tiny_artifact, tmp_path_factory, "quantized")


@pytest.fixture(scope="session")
def tiny_tensorrt_artifact(tmp_path_factory):
    """bark-tiny exported with TensorRT's cache flavour (TensorScatter, static capacity); runs on onnxruntime too."""
    return export_random(tmp_path_factory, "bark-tiny", "bark-tiny-tensorrt", kv_cache="tensorrt")
