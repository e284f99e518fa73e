"""What the toy model is: a GPT-2 over 512 ids (text bytes, a speak marker, 254 audio codes, EOS) and a vocoder."""
from __future__ import annotations

from dataclasses import dataclass, field

from ttsx.recipes.family import Limits, RecipeBase
from ttsx.recipes.precision import Budget

TEXT_IDS = 256  # ids 0..255: a text's UTF-8 bytes
SPEAK = 256  # ends the text: the model writes audio codes after it
FIRST_CODE = 257  # ids 257..510: audio codes 0..253
CODES = 254
EOS = 511  # ends a row's codes
VOCAB = 512
WINDOW = 128  # text bytes per piece (the bench prompts fit one)
HOP = 80  # waveform samples per code
SAMPLE_RATE = 8000  # Hz

BUDGETS = {  # set from `ttsx parity` runs of toy-tiny at 1 and 2 threads (tests/plugin_family/test_toy_family.py)
    "fp32": Budget(rel_error=1e-4, top1=1.0, tokens=1.0),
    "fp16": Budget(rel_error=1e-2, top1=0.95, tokens=0.9),
    "int8": Budget(rel_error=0.1, top1=0.8, tokens=0.7),
    "int8-qdq": Budget(rel_error=0.15, top1=0.8, tokens=0.7),
    "int4": Budget(rel_error=0.25, top1=0.8, tokens=0.7),  # worst measured: rel 0.142, top-1 1.0, tokens 1.0
}


@dataclass(frozen=True)
class ToyRecipe(RecipeBase):
    """One toy size: the LM's layers, width and heads, the vocoder's channels."""

    name: str
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    positions: int = 256
    vocoder_channels: int = 16
    max_new_tokens: int = 127  # with the longest prompt, 256 positions (GPT-2 n_positions): whole CAPACITY_STEPs
    budgets: dict = field(default_factory=lambda: dict(BUDGETS))
    family: str = field(default="toy", init=False)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def limits(self) -> Limits:
        return Limits(max_tokens=self.max_new_tokens, default_tokens=48, max_text_chars=4096, sample_rate=SAMPLE_RATE)

    @property
    def kv_positions(self) -> int:
        """The longest prompt (a window and the speak marker) plus the most codes."""
        return WINDOW + 1 + self.max_new_tokens


RECIPES = (ToyRecipe("toy-tiny", description="A test-only family: GPT-2 over bytes -> codes -> a vocoder."),
           ToyRecipe("toy-wide", hidden=128, description="toy-tiny's graphs at twice the width (a recipe of another shape)."))
