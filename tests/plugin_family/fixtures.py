"""The test-only family's session fixtures (found by tests/conftest.py). It plugs in as a third-party family
would (README.md): this folder joins the path and TTSX_FAMILIES names it, here and for subprocesses
(`ttsx serve`, the CLI), which find it through the same two variables."""
import os
import sys
from pathlib import Path

import pytest

from ttsx_test_support import copy_artifact, export_random, quantizer

TENSORRT_ARTIFACTS = {"toy-tiny": "toy_tensorrt_artifact"}
PLUGIN = str(Path(__file__).resolve().parent)
os.environ["TTSX_FAMILIES"] = ",".join(filter(None, [os.environ.get("TTSX_FAMILIES", ""), "ttsx_toy"]))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PLUGIN, os.environ.get("PYTHONPATH", "")]))
sys.path.insert(0, PLUGIN)


@pytest.fixture(scope="session")
def toy_artifact(tmp_path_factory):
    """A toy-tiny artifact (the test-only family) exported from seeded random weights (seed 0)."""
    return export_random(tmp_path_factory, "toy-tiny", "toy-tiny")


@pytest.fixture(scope="session")
def toy_tensorrt_artifact(tmp_path_factory):
    """toy-tiny exported with TensorRT's cache flavour (seed 0)."""
    return export_random(tmp_path_factory, "toy-tiny", "toy-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture
def toy_copy(toy_artifact, tmp_path):
    """A private copy of the toy artifact that a test may damage."""
    return copy_artifact(toy_artifact, tmp_path, "toy-copy")


@pytest.fixture(scope="session")
def toy_quantize(toy_artifact, tmp_path_factory):
    """toy_quantize(precision) -> the toy artifact at that precision (made once per test session)."""
    return quantizer(toy_artifact, tmp_path_factory, "toy-quantized")
