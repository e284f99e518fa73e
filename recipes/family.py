"""What a model family provides, and the recipe base class every family's recipes build on.

Generic code (export, quantize, calibration, parity, bench, the torch backend, the CLI) talks to a
family only through two objects, found by name in recipes/registry.py:

    a recipe (RecipeBase)  what the model is: its graphs as GraphKind objects (recipes/kinds.py: spec,
                           export wrapper, parity cases, feeds, reference, axis ranges), budgets, limits
    the Family             what is not one graph's: load_reference, fingerprint, write_assets,
                           agreement_runs, prompts, open_pipeline (the generation loop), eager_baseline

Feeds and outputs are dicts of numpy arrays keyed by the graph spec's I/O names.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass


from .precision import Budget, get_precision
from .kinds import GraphKind
from .spec import FP32_TOLERANCE, KV_CACHES, GraphSpec, Tolerance, round_capacity


BATCH_AXIS = "batch"  # the symbolic batch axis of every graph spec that batches rows
CALIBRATION_PROMPTS = (  # plain sentences of several languages, lengths and punctuation
    "The quick brown fox jumps over the lazy dog; then it rests in the shade.",
    "Is this the real life? Is this just fantasy?",
    "Numbers like 3.14, 2026 and 42 are read aloud, too!",
    "Bonjour, comment allez-vous aujourd'hui ?",
    "Guten Morgen! Wie spät ist es?",
    "In the beginning the universe was created. This has made a lot of people very angry.",
)
AGREEMENT_PROMPTS = ("Good evening, and welcome to the late news.", "Can you hear the music?")
BENCH_PROMPTS = (  # different lengths, so a batch's rows have different prompt lengths (`ttsx bench`)
    "The quick brown fox jumps over the lazy dog, then rests in the shade of an old oak tree.",
    "Good morning.",
    "Please remember to bring the blue folder, two pencils and your notes to Thursday's meeting.",
    "It rained all night; by dawn the river had risen over the lower road.",
)
HELD_OUT_PROMPTS = (  # neither calibration nor agreement prompts: scripts/parity_stability.py draws pairs of them
    "The train to the coast leaves at seven.", "Please close the window before the storm.",
    "Nobody expected the results to be so clear.", "We will meet again under the old bridge.",
    "How many apples did you buy at the market?", "Her voice was calm, and the room fell silent.",
    "Turn left at the second light, then keep going.", "It rained for three days without a break.",
)


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


@dataclass(frozen=True, kw_only=True)
class RecipeBase:
    """Common recipe behaviour: specs at a precision, lookup by name, budgets. A family's kinds.py lists its graphs.

    A family's recipe is a frozen dataclass over this one, giving `name` (its first field), `family` (a field
    with init=False), `budgets` (precision name -> Budget), `limits` (Limits) and `kv_positions` (the positions
    one generation's cache needs at most: the longest prompt plus the most new tokens); the two fields here
    come after its own, by keyword only.
    """

    tolerance: Tolerance = FP32_TOLERANCE  # fp32 graphs against the reference, element-wise
    description: str = ""  # one line for `ttsx recipes`

    @property
    def kv_capacity(self) -> int:
        """Positions a static (TensorRT) cache holds: kv_positions rounded up to recipes.spec.CAPACITY_STEP (as
        symbolic caches are)."""
        return round_capacity(self.kv_positions)

    def kinds(self) -> tuple[GraphKind, ...]:
        """Every graph of this recipe as a GraphKind bound to it, in pipeline order."""
        return tuple(kind(self) for kind in self.kind_types())

    def kind_types(self) -> tuple[type, ...]:
        """The recipe's GraphKind classes in pipeline order: by default `KINDS` of the `kinds` module beside the
        recipe's module (a family's kinds.py), imported when first asked, so listing recipes stays cheap."""
        package = type(self).__module__.rpartition(".")[0]
        return importlib.import_module(f"{package}.kinds").KINDS

    def graph_kind(self, name: str) -> GraphKind:
        """The graph kind called `name`."""
        for kind in self.kinds():
            if kind.name == name:
                return kind
        known = ", ".join(k.name for k in self.kinds())
        raise KeyError(f"recipe {self.name!r} has no graph {name!r}; its graphs: {known}")

    def graphs(self, precision: str = "fp32", kv_cache: str = "onnxruntime") -> tuple[GraphSpec, ...]:
        """Every graph this recipe exports, as stored at `precision` with `kv_cache` flavour, in pipeline order."""
        if kv_cache not in KV_CACHES:
            raise KeyError(f"unknown KV-cache flavour {kv_cache!r}; choose {', '.join(KV_CACHES)}")
        p = get_precision(precision)
        specs = tuple(kind.spec for kind in self.kinds())
        if kv_cache == "tensorrt":
            specs = tuple(spec.with_static_capacity(self.kv_capacity) for spec in specs)
        return tuple(spec.at_precision(p) for spec in specs)

    def graph_spec(self, name: str, precision: str = "fp32", kv_cache: str = "onnxruntime") -> GraphSpec:
        """The graph spec called `name`."""
        self.graph_kind(name)  # a KeyError naming the graphs
        return next(spec for spec in self.graphs(precision, kv_cache) if spec.name == name)

    def budget(self, precision: str) -> Budget:
        """The accuracy budget of `precision` (a KeyError names the known precisions)."""
        get_precision(precision)
        if precision not in self.budgets:
            raise KeyError(f"recipe {self.name!r} has no accuracy budget for {precision}; its family must add one "
                           f"(measured at 1 and 2 threads: scripts/parity_stability.py) before {precision} artifacts "
                           "can be checked")
        return self.budgets[precision]

    def axis_ranges(self, name: str, max_batch: int) -> dict[str, tuple[int, int, int]]:
        """(min, opt, max) per symbolic input axis of graph `name` (TensorRT profiles): a symbolic `batch` takes
        1..max_batch, optimised for max_batch, unless the graph's kind says otherwise."""
        ranges = self.graph_kind(name).axis_ranges(max_batch)
        if any(BATCH_AXIS in t.shape for t in self.graph_spec(name).inputs):
            ranges = {BATCH_AXIS: (1, max_batch, max_batch), **ranges}
        return ranges


class Family(ABC):
    """One model family: everything generic code needs to export, check and run it."""

    name: str
    on_demand_stages: tuple[str, ...] = ()  # stages whose graphs a pipeline opens at their first run, not at load

    # -- export -------------------------------------------------------------------------------
    def own_module(self, name: str):
        """The module `name` of the family's own package (the one holding its family.py), imported when asked."""
        return importlib.import_module(f"{type(self).__module__.rpartition('.')[0]}.{name}")

    def load_reference(self, recipe, source):
        """The PyTorch reference for a recipes.source.ModelSource (random weights fill every buffer): by default
        `load_reference(recipe, source)` of the family's reference.py."""
        return self.own_module("reference").load_reference(recipe, source)

    def fingerprint(self, model) -> str:
        """sha256 of the reference's weights (recorded at export, checked when parity rebuilds it)."""
        from .source import weights_fingerprint

        return weights_fingerprint({"model": model})

    def source_hint(self) -> str:
        """How a user gets a checkpoint directory for this family (said when none is given): by default
        `HOW_TO_GET` of the family's reference.py."""
        return getattr(self.own_module("reference"), "HOW_TO_GET", "")

    def write_assets(self, model, source, out_dir) -> dict:
        """Write non-graph assets (tokenizer, voices) into out_dir; their manifest entries ("tokenizer", "voices")."""
        return {}

    # -- parity ----------------------------------------------------------------------------
    def agreement_runs(self, recipe, tokens: int, batch: int) -> list[AgreementRun]:
        """The greedy end-to-end comparisons `ttsx parity` makes (default: one greedy run, every stage)."""
        return [AgreementRun("greedy")]

    def calibration_prompts(self) -> tuple[str, ...]:
        """Texts whose stage inputs calibrate int8 Q/DQ (`ttsx quantize`; a user's file replaces them)."""
        return CALIBRATION_PROMPTS

    def agreement_prompts(self) -> tuple[str, ...]:
        """Texts of the end-to-end agreement runs; held out from the calibration prompts."""
        return AGREEMENT_PROMPTS

    def bench_prompts(self) -> tuple[str, ...]:
        """The texts `ttsx bench` cycles through (of different lengths)."""
        return BENCH_PROMPTS

    def held_out_prompts(self) -> tuple[str, ...]:
        """Texts in neither of the above, for checking that a budget's verdict holds on other prompts."""
        return HELD_OUT_PROMPTS

    # -- run ----------------------------------------------------------------------------------
    def open_pipeline(self, artifact, sessions: dict):
        """The family's generation loop (a runtimes.pipeline.Pipeline) over opened stage sessions: by default
        `PIPELINE` of the family's pipeline.py."""
        return self.own_module("pipeline").PIPELINE(artifact, sessions)

    @abstractmethod
    def eager_baseline(self, model, artifact, texts: list[str], tokens: int):
        """A callable running the reference's own generation on `texts` (greedy, `tokens` first-stage tokens,
        EOS suppressed) that returns (seconds per stage, seconds of audio, steps per stage)."""

    def other_baselines(self, model, artifact, texts: list[str], tokens: int) -> dict:
        """{label: make} for the reference's own faster paths (a static cache and torch.compile, say), which
        `ttsx bench` times beside the eager one; none by default. make() returns a callable as eager_baseline
        does (leaving `model` as it was: copy what it changes); building and compiling in make() and the first
        call count as warm-up."""
        return {}
