"""Declarative pieces a recipe is made of: tensor specs, graph specs, tolerances."""
from __future__ import annotations

from dataclasses import dataclass, field

Dim = int | str  # a static size, or the name of a symbolic axis

DTYPES = ("int64", "float32", "float16")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, element type and shape (ints static, strs symbolic)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    # valid ids [low, high) of an int64 input, checked before running; not part of equality, so
    # manifests written before bounds existed still match their recipe
    bounds: tuple[int, int] | None = field(default=None, compare=False)

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise ValueError(f"tensor {self.name!r}: dtype {self.dtype!r} is not one of {DTYPES}")

    def to_json(self) -> dict:
        """The manifest form of this spec."""
        data = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        return data if self.bounds is None else {**data, "bounds": list(self.bounds)}

    @classmethod
    def from_json(cls, data: dict) -> "TensorSpec":
        """Inverse of to_json."""
        bounds = tuple(data["bounds"]) if data.get("bounds") is not None else None
        return cls(data["name"], data["dtype"], tuple(data["shape"]), bounds)


@dataclass(frozen=True)
class Tolerance:
    """Element-wise parity bound: |ours - reference| <= atol + rtol * |reference|."""

    atol: float
    rtol: float

    def __str__(self) -> str:
        return f"atol={self.atol:g} rtol={self.rtol:g}"


@dataclass(frozen=True)
class GraphSpec:
    """One exported ONNX graph: which stage it belongs to, what it computes, its I/O."""

    name: str  # file stem and manifest key, e.g. "semantic_decode"
    stage: str  # "semantic" | "coarse" | "fine" | "codec"
    kind: str  # what the graph computes; selects wrapper, reference and parity cases
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    tolerance: Tolerance
    notes: str = field(default="", compare=False)
    min_sizes: tuple[tuple[str, int], ...] = ()  # (symbolic axis, smallest size the graph is valid for)

    @property
    def input_names(self) -> list[str]:
        """Input names in graph order."""
        return [t.name for t in self.inputs]

    @property
    def output_names(self) -> list[str]:
        """Output names in graph order."""
        return [t.name for t in self.outputs]


def kv_specs(prefix: str, n_layers: int, heads: int, head_dim: int, seq_axis: str,
             dtype: str = "float32") -> tuple[TensorSpec, ...]:
    """KV-cache tensors `{prefix}.{i}.key|value`, layout [batch, heads, seq, head_dim], in layer order."""
    return tuple(
        TensorSpec(f"{prefix}.{i}.{part}", dtype, ("batch", heads, seq_axis, head_dim))
        for i in range(n_layers)
        for part in ("key", "value")
    )


def past_specs(n_layers: int, heads: int, head_dim: int, dtype: str = "float32") -> tuple[TensorSpec, ...]:
    """Cache inputs: `past_key_values.{i}.key|value` over the `past_sequence` axis."""
    return kv_specs("past_key_values", n_layers, heads, head_dim, "past_sequence", dtype)


def present_specs(n_layers: int, heads: int, head_dim: int, seq_axis: str,
                  dtype: str = "float32") -> tuple[TensorSpec, ...]:
    """Cache outputs: `present.{i}.key|value` over `seq_axis`."""
    return kv_specs("present", n_layers, heads, head_dim, seq_axis, dtype)
