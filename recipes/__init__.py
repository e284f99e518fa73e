"""Recipes: what each model is, one folder per family (registered in recipes/registry.py)."""
from .registry import UnknownRecipeError, get_family, get_recipe, recipe_names, register

__all__ = ["UnknownRecipeError", "get_family", "get_recipe", "recipe_names", "register"]
