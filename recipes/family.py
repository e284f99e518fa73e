"""What a model family provides, and the recipe base class every family's recipes build on.

Generic code (export, quantize, calibration, parity, bench, the torch backend, the CLI) talks to a
family only through this interface, found by name in recipes/registry.py:

    export     load_reference, graph_module, example_feed, write_assets
    parity     parity_cases, make_feed, reference_outputs, perturb
    run        open_pipeline (the generation loop over stage sessions), eager_baseline (for bench)

Feeds and outputs are dicts of numpy arrays keyed by the graph spec's I/O names. A family's
parity cases are its own objects; generic code reads only their `label`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from .precision import Budget, get_precision
from .spec import GraphSpec


@dataclass(frozen=True)
class AgreementRun:
    """One greedy end-to-end comparison: the options both pipelines run, and the stages whose tokens count."""

    label: str
    options: object = None  # the family's own options; None: SynthesisOptions(greedy, the token count, the batch)
    stages: tuple[str, ...] | None = None  # None: every stage the pipeline reports


@dataclass(frozen=True)
class Limits:
    """What one synthesis call may ask of a recipe, and its defaults (the CLI, API and server read these)."""

    max_tokens: int  # first-stage tokens per text piece, at most
    default_tokens: int  # first-stage tokens per text piece when not given
    max_text_chars: int = 1_000_000  # characters per text (long texts are split into window pieces)
    sample_rate: int = 24_000  # Hz of the audio made


KV_CACHES = {  # how a causal graph updates its cache in place; the artifact records which
    "onnxruntime": "com.microsoft::GroupQueryAttention, symbolic capacity (onnxruntime CPU and CUDA)",
    "tensorrt": "TensorScatter (opset 24) and masked attention, static capacity (TensorRT's KV cache update)",
}


class RecipeBase:
    """Common recipe behaviour: specs at a precision, lookup by name, budgets. Subclasses define `_graphs`."""

    name: str
    family: str
    description: str
    budgets: dict  # precision name -> Budget
    limits: Limits
    kv_capacity: int  # positions a static (TensorRT) cache holds: the longest prompt plus the most new tokens

    def _graphs(self) -> tuple[GraphSpec, ...]:
        raise NotImplementedError

    def graphs(self, precision: str = "fp32", kv_cache: str = "onnxruntime") -> tuple[GraphSpec, ...]:
        """Every graph this recipe exports, as stored at `precision` with `kv_cache` flavour, in pipeline order."""
        if kv_cache not in KV_CACHES:
            raise KeyError(f"unknown KV-cache flavour {kv_cache!r}; choose {', '.join(KV_CACHES)}")
        p = get_precision(precision)
        specs = self._graphs()
        if kv_cache == "tensorrt":
            specs = tuple(spec.with_static_capacity(self.kv_capacity) for spec in specs)
        return tuple(spec.at_precision(p) for spec in specs)

    def graph(self, name: str, precision: str = "fp32", kv_cache: str = "onnxruntime") -> GraphSpec:
        """The graph spec called `name`."""
        for spec in self.graphs(precision, kv_cache):
            if spec.name == name:
                return spec
        known = ", ".join(g.name for g in self._graphs())
        raise KeyError(f"recipe {self.name!r} has no graph {name!r}; its graphs: {known}")

    def budget(self, precision: str) -> Budget:
        """The accuracy budget of `precision` (a KeyError names the known precisions)."""
        get_precision(precision)
        return self.budgets[precision]

    def axis_ranges(self, name: str, max_batch: int) -> dict[str, tuple[int, int, int]]:
        """(min, opt, max) per symbolic input axis of graph `name` (TensorRT profiles)."""
        raise NotImplementedError(f"recipe {self.name!r} defines no TensorRT profiles")


class Family(ABC):
    """One model family: everything generic code needs to export, check and run it."""

    name: str

    # -- export -------------------------------------------------------------------------------
    @abstractmethod
    def load_reference(self, recipe, source):
        """The PyTorch reference for a recipes.source.ModelSource (random weights fill every buffer)."""

    def fingerprint(self, model) -> str:
        """sha256 of the reference's weights (recorded at export, checked when parity rebuilds it)."""
        from .source import weights_fingerprint

        return weights_fingerprint({"model": model})

    def source_hint(self) -> str:
        """How a user gets a checkpoint directory for this family (said when none is given)."""
        return ""

    @abstractmethod
    def graph_module(self, model, recipe, spec: GraphSpec, kv_cache: str = "onnxruntime"):
        """The nn.Module exported for `spec` (flat tensors in and out); also what the torch backend runs.

        `kv_cache` picks the ONNX form of in-place cache updates (KV_CACHES); eager math is the same."""

    @abstractmethod
    def example_feed(self, model, recipe, spec: GraphSpec, rng: np.random.Generator) -> dict:
        """A feed to trace `spec` with: batch > 1 and lengths > 1, so no symbolic axis is specialised."""

    def write_assets(self, model, source, out_dir) -> dict:
        """Write non-graph assets (tokenizer, voices) into out_dir; their manifest entries ("tokenizer", "voices")."""
        return {}

    # -- parity -------------------------------------------------------------------------------
    @abstractmethod
    def parity_cases(self, recipe, spec: GraphSpec) -> list:
        """The cases `ttsx parity` runs for `spec` (objects with a `label`)."""

    @abstractmethod
    def make_feed(self, model, recipe, spec: GraphSpec, case, rng: np.random.Generator) -> dict:
        """Inputs for `spec` at the case's sizes (caches computed by the reference itself)."""

    @abstractmethod
    def reference_outputs(self, model, recipe, spec: GraphSpec, feed: dict) -> dict:
        """The reference implementation's outputs for `feed`, keyed by the graph's output names."""

    def perturb(self, spec: GraphSpec, name: str, feed: dict, rng: np.random.Generator) -> np.ndarray | None:
        """A changed, valid value for input `name` that the graph's outputs must notice (the sensitivity
        check); None when this case offers none (parity then tries the next case)."""
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
            raise NotImplementedError(f"{spec.name}: no rule to perturb input {name!r}; the family must give one")
        low, high = tensor.bounds
        if value.ndim == 0:
            return np.asarray(low + (int(value) - low + 1) % (high - low), value.dtype)
        return rng.integers(low, high, value.shape).astype(value.dtype)

    def agreement_runs(self, recipe, tokens: int, batch: int) -> list[AgreementRun]:
        """The greedy end-to-end comparisons `ttsx parity` makes (default: one greedy run, every stage)."""
        return [AgreementRun("greedy")]

    # -- run ----------------------------------------------------------------------------------
    @abstractmethod
    def open_pipeline(self, artifact, sessions: dict):
        """The family's generation loop (a runtimes.pipeline.Pipeline) over opened stage sessions."""

    @abstractmethod
    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """A callable running the reference's own generation on `texts` (greedy, `tokens` first-stage tokens,
        EOS suppressed) that returns (seconds per stage, seconds of audio, steps per stage)."""
