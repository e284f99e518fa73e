"""A graph kind: one object that holds everything about one graph of a recipe.

    spec              its I/O, cache pairs, conversion rules and tolerance (a GraphSpec)
    module            the nn.Module exported for it (flat tensors in and out); also what the torch backend runs
    example_case      the sizes it is traced at (batch > 1, lengths > 1: no symbolic axis specialised)
    cases             the parity cases `ttsx parity` runs (batch 1 and > 1, edge lengths)
    feed              inputs for a case (caches computed by the reference itself)
    reference         the family's PyTorch reference's outputs for a feed, keyed by the spec's output names
    perturb           a changed, valid value of one input (parity's sensitivity check)
    axis_ranges       (min, opt, max) of each symbolic input axis (TensorRT profiles)

A recipe lists its kinds (RecipeBase.kinds), bound to itself; generic code asks the kind of a graph
by name (`recipe.graph_kind(name)`) and never which kind it is. Kinds that share a structure share a base:
recipes.causal.CausalKind holds the row-packed feed and per-row reference of every graph with an
in-place KV cache. Methods that need torch import it when called, so a recipe stays cheap to list.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .spec import GraphSpec


@dataclass(frozen=True)
class Case:
    """One parity case: a label and the sizes it exercises (a kind may subclass it to add its own)."""

    label: str
    batch: int
    length: int  # tokens (the longest row), decode past, frames: what the kind's `length` axis is
    ragged: bool = False  # causal graphs: rows of different lengths (prefill) or pasts (decode)
    decode: bool = False  # causal graphs: one new token per row after `length` cached positions


class GraphKind(ABC):
    """One graph of one recipe: everything generic code asks about it (see the module docstring)."""

    def __init__(self, recipe):
        self.recipe = recipe

    @property
    def name(self) -> str:
        """The graph's name (file stem, manifest key)."""
        return self.spec.name

    @property
    @abstractmethod
    def spec(self) -> GraphSpec:
        """The graph's fp32 spec with the symbolic cache capacity (RecipeBase.graphs derives the others)."""

    @abstractmethod
    def module(self, model, kv_cache: str = "onnxruntime"):
        """The nn.Module exported for this graph over the reference `model` (`kv_cache`: recipes.spec.KV_CACHES)."""

    @abstractmethod
    def cases(self) -> list[Case]:
        """The parity cases (labels unique; at least one with batch > 1)."""

    def example_case(self) -> Case:
        """The sizes the graph is traced at: batch 2, rows of different lengths."""
        return Case("export", batch=2, length=7, ragged=True)

    @abstractmethod
    def feed(self, model, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
        """Inputs of `spec` (this graph at a capacity and precision) for `case`, float32 where float."""

    @abstractmethod
    def reference(self, model, spec: GraphSpec, feed: dict) -> dict:
        """The reference implementation's outputs for `feed` (its own modules, not the export wrapper)."""

    @abstractmethod
    def axis_ranges(self, max_batch: int) -> dict[str, tuple[int, int, int]]:
        """(min, opt, max) per symbolic input axis: the sizes a TensorRT profile accepts (RecipeBase.axis_ranges
        adds the batch axis's unless given here)."""

    def perturb(self, spec: GraphSpec, name: str, feed: dict, rng: np.random.Generator) -> np.ndarray | None:
        """A changed, valid value for input `name` that the outputs must notice; None when this case offers
        none (parity then tries the next case). Floats move by a tenth of their spread, bounded integers are
        redrawn (never to the same value), length inputs lose one token where a row has one."""
        value = np.asarray(feed[name])
        tensor = next(t for t in spec.inputs if t.name == name)
        if spec.lengths and name in (spec.lengths.cached, spec.lengths.new):
            floor = 0 if name == spec.lengths.cached else 1  # one fewer cached (or new) token where a row has one
            spare = value > floor
            return np.where(spare, value - 1, value).astype(value.dtype) if spare.any() else None
        if spec.lengths and name in {p.past for p in spec.cache} and not np.asarray(feed[spec.lengths.cached]).any():
            return None  # an empty cache: nothing in it may matter
        if tensor.dtype in ("float32", "float16"):  # a tenth of the spread: changed, yet in-distribution
            scale = 0.1 * (float(np.std(value)) or 1.0)
            return (value + rng.normal(0, scale, value.shape)).astype(value.dtype)
        if tensor.bounds is None:
            raise NotImplementedError(f"{spec.name}: no rule to perturb input {name!r}; its kind must give one")
        low, high = tensor.bounds
        if value.ndim == 0:
            return np.asarray(low + (int(value) - low + 1) % (high - low), value.dtype)
        drawn = rng.integers(low, high, value.shape)  # redrawn, then moved by one where a draw repeats the value
        return np.where(drawn == value, low + (drawn - low + 1) % (high - low), drawn).astype(value.dtype)


def outputs_of(spec: GraphSpec, values) -> dict[str, np.ndarray]:
    """Reference outputs (torch tensors or arrays, in the spec's output order) keyed by the spec's names."""
    return {name: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v)
            for name, v in zip(spec.output_names, values)}
