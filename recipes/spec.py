"""Declarative pieces a recipe is made of: tensor specs, graph specs, cache pairs, tolerances.

A GraphSpec answers every question generic code asks about a graph (optimum's OnnxConfig idea):
its inputs and outputs, which inputs are KV cache and which output replaces each of them on the
next step (`cache`), how it converts to each precision (`convert`), and its tolerance. Generic code
never asks which model or which kind of graph it has.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

Dim = int | str  # a static size, or the name of a symbolic axis

CAPACITY_STEP = 64  # a symbolic cache capacity is sized to the generation, rounded up to this many positions


def round_capacity(positions: int) -> int:
    """`positions` rounded up to a whole number of CAPACITY_STEPs."""
    return -(-positions // CAPACITY_STEP) * CAPACITY_STEP
KV_CACHES = {  # how a causal graph updates its cache in place (`ttsx export --kv-cache`); the artifact records which
    "onnxruntime": "com.microsoft::GroupQueryAttention, symbolic capacity (onnxruntime CPU and CUDA)",
    "tensorrt": "TensorScatter (opset 24) and masked attention, static capacity (TensorRT's KV cache update)",
}
DTYPES = ("int64", "int32", "float32", "float16", "bool")
FLOAT_DTYPES = ("float32", "float16")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type and shape (ints static, strs symbolic)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    # valid values [low, high) of an integer input, checked before running; not part of equality
    bounds: tuple[int, int] | None = field(default=None, compare=False)
    kv: bool = False  # a KV-cache tensor: takes the precision's cache dtype

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")

    def to_json(self) -> dict:
        """The manifest form of this spec."""
        data = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.bounds is not None:
            data["bounds"] = list(self.bounds)
        return {**data, "kv": True} if self.kv else data

    @classmethod
    def from_json(cls, data: dict) -> "TensorSpec":
        """Inverse of to_json."""
        bounds = tuple(data["bounds"]) if data.get("bounds") is not None else None
        return cls(data["name"], data["dtype"], tuple(data["shape"]), bounds, bool(data.get("kv", False)))


@dataclass(frozen=True)
class Tolerance:
    """Element-wise parity bound: |ours - reference| <= atol + rtol * |reference|."""

    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g}"


FP32_TOLERANCE = Tolerance(atol=1e-4, rtol=1e-3)  # an fp32 graph against its fp32 PyTorch reference (every family's)


@dataclass(frozen=True)
class CachePair:
    """A cache input and the output that replaces it on the next step."""

    past: str  # input name, e.g. past_key_values.0.key
    present: str  # output name, e.g. present.0.key
    axis: int = 2  # the sequence axis, which grows by one position per step

    def to_json(self) -> list:
        """The manifest form."""
        return [self.past, self.present, self.axis]


@dataclass(frozen=True)
class Conversion:
    """How a graph converts to reduced precisions (`ttsx quantize`)."""

    int8: bool = True  # weight MatMuls quantized in the int8, int8-qdq and int4 flavours; False: stays fp32
    fp16: bool = True  # converted to fp16 in fp16 artifacts; False: stays fp32
    fp32_ops: tuple[str, ...] = ()  # op types kept fp32 inside an fp16 graph (norms whose sums overflow fp16)

    def to_json(self) -> dict:
        """The manifest form."""
        return {"int8": self.int8, "fp16": self.fp16, "fp32_ops": list(self.fp32_ops)}


@dataclass(frozen=True)
class CacheLengths:
    """The inputs of an in-place cache graph that say where each row's tokens go (the runner feeds them).

    Row b's new tokens are the first `lengths[b]` of the call's (right-padded) positions; they are
    written at cache positions `cache_lengths[b]` onwards and attend everything before them.
    """

    cached: str = "cache_lengths"  # int32 [batch]: tokens already in each row's cache
    new: str = "lengths"  # int32 [batch]: real tokens of each row in this call

    def to_json(self) -> list:
        """The manifest form."""
        return [self.cached, self.new]


@dataclass(frozen=True)
class GraphSpec:
    """One exported ONNX graph: which stage it belongs to, its I/O, cache pairs and conversion rules."""

    name: str  # file stem and manifest key; the recipe's GraphKind of this name holds everything else about it
    stage: str  # the pipeline stage it serves (a family's own names)
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    tolerance: Tolerance
    notes: str = field(default="", compare=False)
    min_sizes: tuple[tuple[str, int], ...] = ()  # (symbolic axis, smallest size the graph is valid for)
    cache: tuple[CachePair, ...] = ()  # causal graphs: each cache input and the output that replaces it
    convert: Conversion = Conversion()
    lengths: CacheLengths | None = None  # in-place caches: present IS past (same buffer), rows placed by these
    choices: tuple[str, ...] = ()  # outputs whose argmax over the last axis is a token choice (parity's top-1)

    @cached_property
    def input_names(self) -> list[str]:
        """Input names in graph order."""
        return [t.name for t in self.inputs]

    @cached_property
    def output_names(self) -> list[str]:
        """Output names in graph order."""
        return [t.name for t in self.outputs]

    @cached_property
    def step_inputs(self) -> list[str]:
        """Inputs that are not cache: what a caller feeds on every step."""
        past = {pair.past for pair in self.cache}
        return [name for name in self.input_names if name not in past]

    @cached_property
    def positions_input(self) -> str | None:
        """With in-place caches: the step input whose axis 1 is the call's positions (the ids or embeddings)."""
        if self.lengths is None:
            return None
        return next(n for n in self.step_inputs if n not in (self.lengths.cached, self.lengths.new))

    @property
    def capacity(self) -> Dim | None:
        """The cache's size along its sequence axis: an int (static) or the name of a symbolic axis."""
        if not self.cache:
            return None
        pair = self.cache[0]
        return next(t for t in self.inputs if t.name == pair.past).shape[pair.axis]

    @property
    def kv_outputs(self) -> list[str]:
        """Outputs that are KV cache (a prefill's or a decode step's present.*)."""
        return [t.name for t in self.outputs if t.kv]

    def capacity_for(self, needed: int) -> int:
        """Cache positions to allocate for `needed`: the static capacity (an error if `needed` is more), or
        `needed` rounded up to CAPACITY_STEP (a symbolic capacity is sized per generation)."""
        from ttsx.base.errors import TtsxError

        if isinstance(self.capacity, int):
            if needed > self.capacity:
                raise TtsxError(f"{self.name}: {needed} positions asked for; the graph's cache holds {self.capacity}")
            return self.capacity
        return round_capacity(needed)

    def with_static_capacity(self, size: int) -> "GraphSpec":
        """This spec with its symbolic cache capacity fixed to `size` (TensorRT's KV update needs it static)."""
        axis = self.capacity
        if not isinstance(axis, str):
            return self
        fix = lambda ts: tuple(replace(t, shape=tuple(size if d == axis else d for d in t.shape),  # noqa: E731
                                       bounds=(t.bounds[0], size + 1) if self.lengths and t.name in
                                       (self.lengths.cached, self.lengths.new) else t.bounds) for t in ts)
        return replace(self, inputs=fix(self.inputs), outputs=fix(self.outputs))

    def converted(self, precision) -> bool:
        """Whether `precision` (a recipes.precision.Precision) converts this graph."""
        return precision.name != "fp32" and (self.convert.fp16 if precision.name == "fp16" else self.convert.int8)

    def at_precision(self, precision) -> "GraphSpec":
        """This spec as `precision` stores it: KV tensors of a converted graph take the precision's cache dtype."""
        if not self.converted(precision) or precision.kv_dtype == "float32":
            return self
        cast = lambda ts: tuple(replace(t, dtype=precision.kv_dtype) if t.kv else t for t in ts)  # noqa: E731
        return replace(self, inputs=cast(self.inputs), outputs=cast(self.outputs))


def in_place_cache(n_layers: int, heads: int, head_dim: int, capacity: Dim = "capacity", seq2seq: bool = False
                   ) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...], tuple[CachePair, ...], tuple[TensorSpec, ...]]:
    """(cache inputs, cache outputs, pairs, length inputs) of a graph whose self-attention cache is updated in place.

    Caches are [batch, heads, capacity, head_dim]; the outputs are the same buffers (bind one value
    as both). `capacity` is symbolic (the runner sizes it per generation) or an int (TensorRT).
    `seq2seq`: a decoder that also cross-attends, whose names say `.decoder.` (optimum's convention).
    """
    lengths = CacheLengths()
    bound = capacity + 1 if isinstance(capacity, int) else 2**31 - 1
    length_specs = (TensorSpec(lengths.cached, "int32", ("batch",), (0, bound)),
                    TensorSpec(lengths.new, "int32", ("batch",), (1, bound)))
    attention = "decoder" if seq2seq else None
    return (kv_specs("past_key_values", n_layers, heads, head_dim, capacity, attention),
            kv_specs("present", n_layers, heads, head_dim, capacity, attention),
            cache_pairs(n_layers, attention), length_specs)


def cross_attention_inputs(n_layers: int, heads: int, head_dim: int, axis: Dim = "encoder_sequence"
                           ) -> tuple[TensorSpec, ...]:
    """The encoder's keys and values a cross-attending decoder reads, `past_key_values.{i}.encoder.key|value`
    [batch, heads, encoder positions, head_dim]: computed once per utterance, bound for every step, never updated."""
    return kv_specs("past_key_values", n_layers, heads, head_dim, axis, "encoder")


def kv_specs(prefix: str, n_layers: int, heads: int, head_dim: int, seq_axis: Dim, attention: str | None = None
             ) -> tuple[TensorSpec, ...]:
    """KV tensors `{prefix}.{i}[.{attention}].key|value`, layout [batch, heads, seq, head_dim], in layer order."""
    return tuple(TensorSpec(kv_name(prefix, i, part, attention), "float32", ("batch", heads, seq_axis, head_dim), kv=True)
                 for i in range(n_layers) for part in ("key", "value"))


def kv_name(prefix: str, layer: int, part: str, attention: str | None = None) -> str:
    """`past_key_values.0.key`; with attention "decoder" or "encoder", `past_key_values.0.decoder.key` (optimum's names)."""
    return ".".join([prefix, str(layer)] + ([attention] if attention else []) + [part])


def cache_pairs(n_layers: int, attention: str | None = None) -> tuple[CachePair, ...]:
    """past_key_values.{i}[.decoder].key|value -> present.{i}[.decoder].key|value, sequence on axis 2."""
    return tuple(CachePair(kv_name("past_key_values", i, part, attention), kv_name("present", i, part, attention))
                 for i in range(n_layers) for part in ("key", "value"))
