"""The one recipe registry: exact-name lookup, no silent duplicates."""
from __future__ import annotations

from typing import Protocol

from ttsx.errors import TtsxError


class Recipe(Protocol):
    """What every recipe provides (see recipes/bark.py for the Bark family)."""

    name: str
    family: str

    def graphs(self) -> tuple: ...


class UnknownRecipeError(TtsxError, KeyError):
    """Raised for a recipe name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0])


_REGISTRY: dict[str, Recipe] = {}


def register(recipe: Recipe) -> Recipe:
    """Add a recipe; registering a name twice is an error."""
    if recipe.name in _REGISTRY:
        raise ValueError(f"recipe {recipe.name!r} is already registered; pick another name")
    _REGISTRY[recipe.name] = recipe
    return recipe


def get_recipe(name: str) -> Recipe:
    """The recipe registered under exactly `name`."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise UnknownRecipeError(f"unknown recipe {name!r}; known recipes: {known}") from None


def recipe_names() -> list[str]:
    """All registered names, sorted."""
    return sorted(_REGISTRY)
