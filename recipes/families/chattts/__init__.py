"""The ChatTTS family (2Noise's ChatTTS through the `chattts` package, an optional extra).

ChatTTS's code is AGPL-3.0 and its released weights CC BY-NC 4.0: ttsx imports the package to
build the reference and the graphs, and never ships either.

    recipe.py    what ChatTTS is: GPT, decoder, DVAE and Vocos sizes, constants, budgets (no torch)
    kinds.py     the eight graphs as GraphKinds: spec, wrapper, parity cases, feeds, reference, axis ranges
    graphs.py    the export wrappers (also what the torch backend runs), with Vocos's inverse STFT in real ops
    reference.py the ChatTTS reference: building (random weights) or loading a Chat
    tokenizer.py its BERT tokenizer with left padding; the stand-in vocabulary of random-weights artifacts
    voices.py    speaker embeddings: drawn at export, applied to the prompt
    pipeline.py  the generation loop: text -> refine -> codes -> mel -> audio
    baseline.py  eager Chat.infer, timed, for `ttsx bench`
    family.py    ChatTTSFamily: what generic code asks beyond the graphs (assets, agreement runs, the pipeline)
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
