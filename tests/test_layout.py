"""The design stays visible: each module's layer is its folder, imports go down the layers only, and generic code
names no model family and switches on no graph kind.

    ttsx/base < recipes (generic) < ttsx/artifact < runtimes, exporter < ttsx/checks < ttsx/app < ttsx (root)
    runtimes and exporter are side by side: neither imports the other (what needs both, e.g. quantizing with
    calibration feeds recorded by running the pipeline, joins them above: ttsx.app.quantize.quantize_artifact)
    recipes/families/<family>/ (and plug-in families) may import any generic module, never another family
"""
import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ttsx.recipes.registry import family_names

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"ttsx": "ttsx", "ttsx.exporter": "exporter", "ttsx.runtimes": "runtimes", "ttsx.recipes": "recipes"}
LAYERS = ("ttsx/base", "recipes", "ttsx/artifact", "runtimes", "exporter", "ttsx/checks", "ttsx/app", "ttsx")
FAMILIES_FOLDER = "recipes/families"
PLUGIN = ROOT / "tests" / "plugin_family" / "ttsx_toy"  # the test-only family, a plug-in outside the package tree
FAMILY_LAYER = len(LAYERS)


def modules() -> dict[str, Path]:
    """Every ttsx module name (and the plug-in family's) -> its file."""
    found = {}
    roots = [(package, ROOT / folder) for package, folder in PACKAGES.items()] + [(PLUGIN.name, PLUGIN)]
    for package, folder in roots:
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join(p for p in (package, *parts) if p)] = path
    return found


MODULES = modules()


def family_of(module: str) -> str | None:
    """The family folder a module belongs to, if any."""
    path = MODULES.get(module)
    if path is None:
        return None
    if path.is_relative_to(PLUGIN):
        return PLUGIN.name
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith(FAMILIES_FOLDER + "/") and relative.count("/") >= 3:
        return relative.split("/")[2]
    return None


def layer(module: str) -> int:
    """The index in LAYERS of the deepest folder holding the module (families above every layer)."""
    if family_of(module):
        return FAMILY_LAYER
    folder = MODULES[module].parent.relative_to(ROOT).as_posix()
    return max((i for i, f in enumerate(LAYERS) if folder == f or folder.startswith(f + "/")),
               key=lambda i: len(LAYERS[i]))


def imports(path: Path, module: str) -> set[str]:
    """Absolute names of every ttsx module imported anywhere in the file (lazy imports included)."""
    names, package = set(), module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n in MODULES or n.rsplit(".", 1)[0] in MODULES}


GENERIC = sorted(m for m in MODULES if not family_of(m))


def test_every_family_folder_is_a_family():
    folders = {p.name for p in (ROOT / FAMILIES_FOLDER).iterdir() if (p / "__init__.py").is_file()}
    assert folders <= set(family_names()) and len(folders) >= 2


@pytest.mark.parametrize("module", GENERIC)
def test_generic_modules_name_no_family(module):
    text = MODULES[module].read_text()
    found = [f for f in family_names() if re.search(rf"\b{re.escape(f)}\b", text, re.IGNORECASE)]
    assert not found, f"{module} mentions {found}: family knowledge belongs in the family's folder"


@pytest.mark.parametrize("module", GENERIC)
def test_generic_modules_do_not_switch_on_graph_kind(module):
    for node in ast.walk(ast.parse(MODULES[module].read_text())):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Attribute) and side.attr == "kind":
                    pytest.fail(f"{module}:{node.lineno} compares a kind; a graph kind is an object "
                                "(recipes.kinds.GraphKind) that answers for itself")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_follow_the_layers(module):
    mine = layer(module)
    for name in imports(MODULES[module], module):
        target = name if name in MODULES else name.rsplit(".", 1)[0]
        other = family_of(target)
        if other:
            assert family_of(module) == other, f"{module} imports family module {name}"
            continue
        assert layer(target) <= mine or target == "ttsx", \
            f"{module} ({LAYERS[mine] if mine < FAMILY_LAYER else 'family'}) imports {name} ({LAYERS[layer(target)]})"


@pytest.mark.parametrize("side,other", [("exporter", "runtimes"), ("runtimes", "exporter")])
def test_exporter_and_runtimes_do_not_import_each_other(side, other):
    found = sorted(f"{m} imports {name}" for m in MODULES if MODULES[m].is_relative_to(ROOT / side)
                   for name in imports(MODULES[m], m) if name.startswith(f"ttsx.{other}"))
    assert found == []


def test_agreement_does_not_import_parity():
    assert "ttsx.checks.parity" not in imports(MODULES["ttsx.checks.agreement"], "ttsx.checks.agreement")


def test_the_bottom_layer_loads_no_higher_layer():
    code = "import sys, ttsx.base.errors; print(' '.join(sorted(m for m in sys.modules if m.startswith('ttsx'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["ttsx", "ttsx.base", "ttsx.base.errors"]


def test_ttsx_load_is_one_import_away():
    code = "import ttsx, sys; f = ttsx.load; print(f.__module__, 'ttsx.runtimes.pipeline' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["ttsx.api", "False"]  # the API loads on use, and loading it runs no pipeline code
