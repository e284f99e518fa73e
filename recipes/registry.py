"""The one registry: the model families that are installed, and the recipes they define.

A family is a package that defines `FAMILY` (a recipes.family.Family) and `RECIPES` (its
recipes, recipes.family.RecipeBase). Families are found, never listed:

    ttsx.recipes.families.<name>      every package in that folder (the built-in families)
    entry point group "ttsx.families" a family installed by another distribution (name = module)
    TTSX_FAMILIES=mod[,mod...]        modules named in the environment (a family in development)

Generic code reaches a family only through `get_family`, never by import. Family packages are
imported on first lookup; their `__init__` must stay light (no torch).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import warnings
from importlib import metadata

from ttsx.base import torchaudio_guard
from ttsx.base.errors import TtsxError

BUILT_IN = "ttsx.recipes.families"
ENTRY_POINTS = "ttsx.families"
ENVIRONMENT = "TTSX_FAMILIES"


class UnknownRecipeError(TtsxError, KeyError):
    """Raised for a recipe name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


_RECIPES: dict = {}  # recipe name -> RecipeBase
_FAMILIES: dict = {}  # family name -> Family
_LOADED: set[str] = set()  # family modules imported (or given up on)
_SCANNED: list = []  # the TTSX_FAMILIES value the installed families were last looked up under


def family_modules() -> dict[str, str]:
    """Module name -> where it was found, for every family installed: built-in, by entry point, from the environment."""
    built_in = importlib.import_module(BUILT_IN)
    found = {f"{BUILT_IN}.{m.name}": "built in" for m in pkgutil.iter_modules(built_in.__path__) if m.ispkg}
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        found.setdefault(ep.module, f"the {ENTRY_POINTS!r} entry point {ep.name!r}")
    for name in os.environ.get(ENVIRONMENT, "").split(","):
        if name.strip():
            found.setdefault(name.strip(), ENVIRONMENT)
    return found


def register(recipe):
    """Add a recipe; registering a name twice is an error."""
    if recipe.name in _RECIPES:
        raise ValueError(f"recipe {recipe.name!r} is already registered; pick another name")
    _RECIPES[recipe.name] = recipe
    return recipe


def _load() -> None:
    """Import every family module once and register its recipes (looked up again when TTSX_FAMILIES changes).

    A built-in family that fails to import is an error; a plug-in that does is skipped with a warning
    naming where it was found, so one broken plug-in leaves the others usable."""
    torchaudio_guard.install()  # before any family imports transformers (ttsx/base/torchaudio_guard.py)
    if _SCANNED == [os.environ.get(ENVIRONMENT, "")]:
        return
    for module_name, origin in family_modules().items():
        if module_name not in _LOADED:
            _load_family(module_name, origin)
    _SCANNED[:] = [os.environ.get(ENVIRONMENT, "")]


def _load_family(module_name: str, origin: str) -> None:
    _LOADED.add(module_name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if origin == "built in":
            raise
        warnings.warn(f"model family {module_name!r} (from {origin}) can't be imported ({exc}); its recipes are "
                      "not available", stacklevel=3)
        return
    family, recipes = getattr(module, "FAMILY", None), getattr(module, "RECIPES", None)
    if family is None or recipes is None:
        raise TtsxError(f"{module_name} (from {origin}) is not a model family: it defines no FAMILY and RECIPES")
    if family.name in _FAMILIES:
        raise ValueError(f"{module_name} defines family {family.name!r}, which another module defined")
    for recipe in recipes:
        if recipe.family != family.name:
            raise ValueError(f"recipe {recipe.name!r} of {module_name} names family {recipe.family!r}")
        if recipe.name in _RECIPES:
            raise ValueError(f"recipe {recipe.name!r} of {module_name} is already registered; pick another name")
    for recipe in recipes:
        register(recipe)
    _FAMILIES[family.name] = family


def get_recipe(name: str):
    """The recipe registered under exactly `name`."""
    _load()
    try:
        return _RECIPES[name]
    except KeyError:
        known = ", ".join(sorted(_RECIPES)) or "(none)"
        raise UnknownRecipeError(f"unknown recipe {name!r}; known recipes: {known}") from None


def recipe_names() -> list[str]:
    """All registered names, sorted."""
    _load()
    return sorted(_RECIPES)


def family_names() -> list[str]:
    """Every installed family's name, sorted."""
    _load()
    return sorted(_FAMILIES)


def get_family(name: str):
    """The Family object of an installed family."""
    _load()
    if name not in _FAMILIES:
        raise TtsxError(f"unknown model family {name!r}; installed families: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]
