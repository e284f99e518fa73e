"""The Parler-TTS family (parler-tts 0.2.3, Apache-2.0): a T5 encoder reads a description of the voice, a
decoder predicts 9 DAC codebooks per step with a delay pattern, DAC decodes them at 44.1 kHz.

ttsx imports the `parler_tts` package (installed with --no-deps beside transformers 5: reference.py
patches what it needs, none of its files) to build the reference and the graphs, and ships none of it.

    recipe.py    what Parler-TTS is: T5, decoder and DAC sizes, its generation constants, budgets (no torch)
    reference.py importing parler_tts on transformers 5; random weights or a save_pretrained snapshot
    kinds.py     the five graphs as GraphKinds: spec, wrapper, parity cases, feeds, reference, axis ranges
    graphs.py    the export wrappers (also what the torch backend runs)
    delay.py     the delay pattern, Parler's EOS rule and its sampling order, on the host (numpy)
    voices.py    voices: descriptions stored in the artifact (OpenAI's `instructions` gives one per request)
    pipeline.py  the generation loop: encoder once, decoder prefill and steps, undelay, DAC
    baseline.py  parler_tts's own generate, timed, for `ttsx bench`
    family.py    ParlerFamily: what generic code asks beyond the graphs
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
