"""Shared fixtures: one bark-tiny artifact per test session (seconds to export)."""
from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """A bark-tiny artifact exported from seeded random weights (seed 0)."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.exporter.sources import ModelSource

    out = tmp_path_factory.mktemp("artifacts") / "bark-tiny"
    return export_artifact(ExportOptions("bark-tiny", ModelSource("random", seed=0), out))


@pytest.fixture
def tiny_copy(tiny_artifact, tmp_path):
    """A private copy of the tiny artifact that a test may damage."""
    dst = tmp_path / "copy"
    shutil.copytree(tiny_artifact, dst)
    return dst


@pytest.fixture(scope="session")
def tiny_reference():
    """The bark-tiny reference BarkModel with the same seed as tiny_artifact."""
    from ttsx.exporter.sources import random_reference
    from ttsx.recipes import get_recipe

    return random_reference(get_recipe("bark-tiny"), seed=0)
