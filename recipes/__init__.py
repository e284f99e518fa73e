"""Recipes: what each model is. Importing this package registers every recipe."""
from .registry import UnknownRecipeError, get_recipe, recipe_names, register
from . import bark  # noqa: F401  (registers bark-tiny, bark-small, bark)

__all__ = ["UnknownRecipeError", "get_recipe", "recipe_names", "register"]
