"""The manifests' schemas, checked in one place before any code reads a key.

A schema is a Python type (str, int, bool, dict: any value of it), a tuple of alternatives, `[schema]` (a
list of), `Map(schema)` (an object with any keys, each value of schema) or a dict of key -> schema (an
object with those keys; `Optional(schema)` keys may be absent; other keys are allowed and unread).
"""
from __future__ import annotations

from dataclasses import dataclass

from ttsx.base.errors import ArtifactError


@dataclass(frozen=True)
class Optional:
    """A key that may be absent."""

    schema: object


@dataclass(frozen=True)
class Map:
    """An object with any keys (str) whose values all have `schema`."""

    schema: object


NAMES = {str: "a string", int: "an integer", bool: "true or false", float: "a number", dict: "an object",
         list: "a list", type(None): "null"}

TENSOR = {"name": str, "dtype": str, "shape": [(int, str)], "bounds": Optional(([int], type(None))),
          "kv": Optional(bool)}
GRAPH = {"file": str, "stage": str, "kind": Optional(str), "choices": Optional([str]), "inputs": [TENSOR], "outputs": [TENSOR],
         "tolerance": {"atol": (int, float), "rtol": (int, float)},
         "cache": Optional([[(str, int)]]), "min_sizes": Optional(Map(int)),
         "convert": Optional({"int8": Optional(bool), "fp16": Optional(bool), "fp32_ops": Optional([str])}),
         "prefill": Optional({"file": str, "precision": str})}
ARTIFACT = {"format": str, "format_version": int, "recipe": str, "precision": Optional(str),
            "kv_cache": Optional(str), "graphs": Map(GRAPH), "files": Map(str), "source": dict,
            "tokenizer": Optional((str, type(None))), "voices": Optional(Map(str))}
ENGINES = {"format": str, "format_version": int, "engines": Map({"file": str, "profiles": Optional([dict])}),
           "files": Map(str), "source": {"path": str, "manifest_sha256": str},
           "builder": {"name": str, "version": str, "compute_capabilities": [str], "targets_set_by": str}}


def check(value, schema, path: str, where: str = "") -> None:
    """Raise an ArtifactError naming the first key of `value` that does not fit `schema`."""
    if isinstance(schema, tuple):
        if not any(_fits(value, option) for option in schema):
            wanted = " or ".join(_name(option) for option in schema)
            raise _error(path, where, f"must be {wanted}", value)
        for option in schema:
            if _fits(value, option):
                return check(value, option, path, where)
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise _error(path, where, "must be a list", value)
        for i, item in enumerate(value):
            check(item, schema[0], path, f"{where}[{i}]")
    elif isinstance(schema, Map):
        if not isinstance(value, dict):
            raise _error(path, where, "must be an object", value)
        for key, item in value.items():
            check(item, schema.schema, path, f"{where}.{key}" if where else key)
    elif isinstance(schema, dict):
        if not isinstance(value, dict):
            raise _error(path, where, "must be an object", value)
        for key, item_schema in schema.items():
            name = f"{where}.{key}" if where else key
            if isinstance(item_schema, Optional):
                if key in value:
                    check(value[key], item_schema.schema, path, name)
            elif key not in value:
                raise ArtifactError(f"{path}: key {name!r} is missing; re-create the file with this ttsx")
            else:
                check(value[key], item_schema, path, name)
    elif not _fits(value, schema):
        raise _error(path, where, f"must be {_name(schema)}", value)


def _name(schema) -> str:
    if isinstance(schema, list):
        return "a list"
    return "an object" if isinstance(schema, (dict, Map)) else NAMES[schema]


def _fits(value, schema) -> bool:
    if isinstance(schema, list):
        return isinstance(value, list)
    if isinstance(schema, (dict, Map)):
        return isinstance(value, dict)
    if schema is int or schema is float:  # JSON true/false are not numbers
        return isinstance(value, schema) and not isinstance(value, bool)
    return isinstance(value, schema)


def _error(path: str, where: str, problem: str, value) -> ArtifactError:
    shown = type(value).__name__ if isinstance(value, (dict, list)) else repr(value)[:40]
    return ArtifactError(f"{path}: key {where or '(top level)'!r} {problem} (got {shown}); "
                         "re-create the file with this ttsx")
