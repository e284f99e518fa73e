"""The design stays visible: generic code names no model family, switches on no graph kind, and imports in layers.

    ttsx.errors, files, schema, progress < recipes (generic) < ttsx.artifact, ttsx.engines < runtimes < exporter < ttsx top level
    recipes/<family>/ may import any generic module, never another family; generic code never imports a family
"""
import ast
import re
from pathlib import Path

import pytest

from ttsx.recipes.registry import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"ttsx": "ttsx", "ttsx.exporter": "exporter", "ttsx.runtimes": "runtimes", "ttsx.recipes": "recipes"}
GENERIC_RECIPES = ("spec", "precision", "registry", "family", "source")
LAYERS = {  # module prefix -> layer number; a module may import only its own layer or lower ones
    "ttsx.errors": 0, "ttsx.files": 0, "ttsx.schema": 0, "ttsx.progress": 0, "ttsx.recipes": 1, "ttsx.artifact": 2, "ttsx.engines": 2, "ttsx.audio": 2,
    "ttsx.runtimes": 3, "ttsx.exporter": 4,
}
TOP = 5  # ttsx.parity, agreement, bench, api, cli, ...


def modules() -> dict[str, Path]:
    """Every ttsx module name -> its file."""
    found = {}
    for package, folder in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            found[".".join((package, *parts))] = path
    return found


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[:2] == ["ttsx", "recipes"] and parts[2] in FAMILIES else None


def layer(module: str) -> int:
    if family_of(module):
        return 6
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len, default=None)
    return LAYERS[best] if best else TOP


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
    return {n for n in names if n.startswith("ttsx")}


GENERIC = sorted(m for m in modules() if not family_of(m))


@pytest.mark.parametrize("module", GENERIC)
def test_generic_modules_name_no_family(module):
    if module == "ttsx.recipes.registry":
        return  # the one place that lists the families
    text = modules()[module].read_text()
    found = [f for f in FAMILIES if re.search(f, text, re.IGNORECASE)]
    assert not found, f"{module} mentions {found}: family knowledge belongs in recipes/<family>/"


@pytest.mark.parametrize("module", [m for m in GENERIC if m != "ttsx.recipes.source"])  # ModelSource.kind: no graph
def test_generic_modules_do_not_switch_on_graph_kind(module):
    tree = ast.parse(modules()[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left, *node.comparators]:
                if isinstance(side, ast.Attribute) and side.attr == "kind" and getattr(side.value, "id", "") != "source":
                    pytest.fail(f"{module}:{node.lineno} compares a graph kind; declare it in the GraphSpec instead")


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_follow_the_layers(module):
    mine = layer(module)
    for name in imports(modules()[module], module):
        other = family_of(name)
        if other:
            assert family_of(module) == other, f"{module} imports family module {name}"
            continue
        target = name if name in modules() else name.rsplit(".", 1)[0]
        assert layer(target) <= mine or target == "ttsx", f"{module} (layer {mine}) imports {name} (layer {layer(target)})"


def test_agreement_does_not_import_parity():
    assert "ttsx.parity" not in imports(modules()["ttsx.agreement"], "ttsx.agreement")
