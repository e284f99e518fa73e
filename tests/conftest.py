"""Generic test set-up: TensorRT markers, the shared helpers (tests/support.py, imported as `ttsx_test_support`)
and every family's own fixtures, found in the family's test folder (its `fixtures.py`) rather than listed here."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _load(path: Path, name: str):
    """The module at `path`, imported as `name` (tests/ stays off sys.path: its folders would shadow packages)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


support = _load(HERE / "support.py", "ttsx_test_support")
# Parity's reference-run cache stays off in tests (a test may patch what the reference computes); the cache's own
# test turns it on in a folder of its own (tests/ttsx/test_parity.py)
os.environ["TTSX_PARITY_CACHE"] = "off"

# Every family's fixtures: tests/recipes/<family>/fixtures.py and the test-only family's (tests/plugin_family);
# their fixtures join this module's, so every test sees them, and their TENSORRT_ARTIFACTS join one table.
FAMILY_FIXTURES = sorted(HERE.glob("recipes/*/fixtures.py")) + sorted(HERE.glob("plugin_family/fixtures.py"))
TENSORRT_ARTIFACTS: dict[str, str] = {}  # recipe -> the fixture of its TensorRT cache flavour, every family
for _path in FAMILY_FIXTURES:
    _module = _load(_path, f"ttsx_test_fixtures_{_path.parent.name}")
    TENSORRT_ARTIFACTS.update(getattr(_module, "TENSORRT_ARTIFACTS", {}))
    globals().update({name: value for name, value in vars(_module).items()
                      if hasattr(value, "_fixture_function_marker")})  # what @pytest.fixture made


def pytest_generate_tests(metafunc):
    """A test taking `tensorrt_recipe` runs once per family's TensorRT-flavoured tiny recipe."""
    if "tensorrt_recipe" in metafunc.fixturenames:
        metafunc.parametrize("tensorrt_recipe", sorted(TENSORRT_ARTIFACTS))


@pytest.fixture(scope="session")
def tensorrt_artifact(request):
    """tensorrt_artifact(recipe) -> that recipe exported with TensorRT's cache flavour (its family's fixture)."""
    return lambda recipe: request.getfixturevalue(TENSORRT_ARTIFACTS[recipe])


@pytest.fixture(scope="session")
def run_server():
    """run_server(tmp_path, *serve_args, api_key=None): a context manager around a real `ttsx serve` process."""
    return support.run_server


def _tensorrt_and_gpu() -> str | None:
    """None when a TensorRT builder and a CUDA GPU are usable, else why not."""
    try:
        from ttsx.artifact.engines import RTX_DEFAULT_TARGETS, RTX_RUNS_ON, choose_builder, gpu_identity, runs_on

        gpu = gpu_identity()
        builder, _ = choose_builder(None)
        rtx = {"name": builder.name, "compute_capabilities": list(RTX_DEFAULT_TARGETS), "targets_set_by": "builder default"}
        if builder.name == "tensorrt-rtx" and not runs_on(rtx, gpu):
            return f"only TensorRT for RTX is installed, and its engines run on {RTX_RUNS_ON}, not on {gpu['name']}"
    except Exception as exc:  # TtsxError from either check
        return str(exc)
    return None


def _builder() -> str | None:
    """None when a TensorRT builder is usable (TensorRT for RTX needs no GPU), else why not."""
    try:
        from ttsx.artifact.engines import choose_builder

        choose_builder(None)
    except Exception as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    """Tests marked `tensorrt` (run engines) or `tensorrt_build` (build them) skip, saying what went unchecked,
    where a builder or a GPU is missing."""
    for marker, check, what in (("tensorrt", _tensorrt_and_gpu, "TensorRT engine build/run"),
                                ("tensorrt_build", _builder, "TensorRT engine build")):
        marked = [item for item in items if marker in item.keywords]
        why = check() if marked else None
        for item in marked if why else []:
            item.add_marker(pytest.mark.skip(reason=f"NOT CHECKED: {what} ({why})"))
