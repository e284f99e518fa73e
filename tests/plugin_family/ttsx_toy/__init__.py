"""The toy family: a GPT-2 over text bytes that writes audio codes, and a convolutional vocoder (tests only).

    recipe.py    what the toy model is: sizes, vocabulary, limits, budgets (no torch)
    kinds.py     its two graphs as GraphKinds: the causal LM over an in-place cache, the vocoder
    model.py     the PyTorch reference (transformers' GPT2LMHeadModel and a torch vocoder) and the LM's export wrapper
    pipeline.py  the generation loop: bytes -> codes -> waveform
    family.py    ToyFamily: what generic code asks beyond the graphs
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
