"""The one registry: model families (one line each) and the recipes they define.

A family is a package `ttsx.recipes.<name>` that defines `FAMILY` (a recipes.family.Family) and
`RECIPES` (its recipes). Generic code reaches a family only through `get_family`, never by import.
Family packages are imported on first lookup; their `__init__` must stay light (no torch).
"""
from __future__ import annotations

import importlib
from typing import Protocol

from ttsx.errors import TtsxError

FAMILIES = {
    "bark": "ttsx.recipes.bark",
    "chattts": "ttsx.recipes.chattts",
}


class Recipe(Protocol):
    """What every recipe provides (recipes.family.RecipeBase implements it)."""

    name: str
    family: str
    description: str

    def graphs(self, precision: str = "fp32") -> tuple: ...


class UnknownRecipeError(TtsxError, KeyError):
    """Raised for a recipe name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


_RECIPES: dict[str, Recipe] = {}
_FAMILIES: dict[str, object] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe; registering a name twice is an error."""
    if recipe.name in _RECIPES:
        raise ValueError(f"recipe {recipe.name!r} is already registered; pick another name")
    _RECIPES[recipe.name] = recipe
    return recipe


def _load() -> None:
    """Import every family package once and register its recipes."""
    for name, module_name in FAMILIES.items():
        if name in _FAMILIES:
            continue
        module = importlib.import_module(module_name)
        if module.FAMILY.name != name:
            raise ValueError(f"{module_name} defines family {module.FAMILY.name!r}, registered as {name!r}")
        for recipe in module.RECIPES:
            if recipe.family != name:
                raise ValueError(f"recipe {recipe.name!r} of {module_name} names family {recipe.family!r}")
            register(recipe)
        _FAMILIES[name] = module.FAMILY


def get_recipe(name: str) -> Recipe:
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


def get_family(name: str):
    """The Family object of a registered family name."""
    _load()
    if name not in _FAMILIES:
        raise TtsxError(f"unknown model family {name!r}; known families: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]
