"""Precisions an artifact can hold, and the accuracy budget each one must meet against fp32 PyTorch.

TensorRT 11 is strongly typed, so a precision is a property of the graph, and the two int8
flavours are different graphs because onnxruntime's CPU kernels and TensorRT want different things:

| precision | made by                              | for                                   | KV cache |
|-----------|--------------------------------------|---------------------------------------|----------|
| fp32      | `ttsx export`                        | every backend (the reference graphs)  | float32  |
| fp16      | `ttsx quantize --precision fp16`     | TensorRT (strongly typed fp16)        | float16  |
| int8      | `ttsx quantize --precision int8`     | onnxruntime CPU (dynamic int8 MatMul) | float32  |
| int8-qdq  | `ttsx quantize --precision int8-qdq` | TensorRT (symmetric int8 Q/DQ)        | float32  |
| int4      | `ttsx quantize --precision int4`     | onnxruntime CPU (int4 decode steps)   | float32  |

int4 is a per-phase choice (exporter/convert.py has the measurement behind it): a causal graph's
decode steps read int4 block-wise weights (MatMulNBits), while its prefills and the graphs that run
once over a long input (compute-bound) keep int8 dynamic weights, which compute those faster.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    """One precision: what it is for and the dtype of the KV cache crossing the graph boundary."""

    name: str
    target: str  # the backend the graphs are shaped for
    kv_dtype: str = "float32"  # KV-cache tensors of converted graphs
    tensorrt: bool = True  # its graphs are meant to build TensorRT engines (with the tensorrt KV-cache flavour)


# Which graphs a precision converts is each graph's own rule (GraphSpec.convert): vocoders and
# codecs, for example, stay fp32 in the int8 flavours.
PRECISIONS = {
    "fp32": Precision("fp32", "any backend"),
    "fp16": Precision("fp16", "TensorRT (strongly typed fp16 network)", "float16"),
    "int8": Precision("int8", "onnxruntime on the CPU (dynamic int8 weights, uint8 activations)", tensorrt=False),
    "int8-qdq": Precision("int8-qdq", "TensorRT (explicit symmetric int8 Q/DQ, zero point 0)"),
    "int4": Precision("int4", "onnxruntime on the CPU (int4 block-wise weights for decode steps, int8 for prefills)",
                      tensorrt=False),
}


# `ttsx build-engine --precision`: the artifact precision each engine precision builds from (int8 is Q/DQ's)
ENGINE_PRECISIONS = {**{name: name for name, p in PRECISIONS.items() if p.tensorrt}, "int8": "int8-qdq"}


def get_precision(name: str) -> Precision:
    """The precision called `name`, or a KeyError listing the known ones."""
    if name not in PRECISIONS:
        raise KeyError(f"unknown precision {name!r}; known precisions: {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


@dataclass(frozen=True)
class Budget:
    """What a reduced-precision artifact may lose against the fp32 PyTorch reference.

    rel_error bounds ||ours - ref||_2 / ||ref||_2 per output tensor (logits, caches, waveform);
    top1 is the least share of logits rows whose argmax equals the reference's;
    tokens is the least share of greedy next-token choices, per stage, equal to the fp32 reference's end to
    end: for fp32 (tokens 1.0) the free-running tokens must be identical; for reduced precisions each stage
    is teacher-forced (fed the reference's tokens, ttsx.checks.agreement), so one flipped near-tie costs one choice.
    """

    rel_error: float
    top1: float
    tokens: float

    def __str__(self) -> str:
        return f"rel<={self.rel_error:g} top1>={self.top1:g} tokens>={self.tokens:g}"


# The real-size autoregressive decoders' budgets, set with margin from the stability runs of docs/BENCHMARKS.md
# ("Quantized verdicts on every CPU"). A family with no real-size measurements of its own takes them as they are
# (its recipe says so); a tiny recipe's budgets are measured on the tiny recipe.
DECODER_BUDGETS = {
    "fp32": Budget(rel_error=1e-4, top1=1.0, tokens=1.0),
    "fp16": Budget(rel_error=1e-2, top1=0.98, tokens=0.9),
    "int8": Budget(rel_error=0.1, top1=0.9, tokens=0.7),
    "int8-qdq": Budget(rel_error=0.3, top1=0.85, tokens=0.7),
    "int4": Budget(rel_error=0.3, top1=0.9, tokens=0.6),
}

# How int8 Q/DQ calibration feeds are captured (runtimes/recording.py; the quantized manifest records it)
DECODE_STRIDE = 8  # keep every 8th one-token decode step (every prefill is kept)
CALIBRATION_SAMPLING = "the family's default sampling, seed 0, batch 1"
