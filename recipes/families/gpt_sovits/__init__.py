"""The GPT-SoVITS family (v2), from the user's upstream checkout (RVC-Boss/GPT-SoVITS, MIT; `GPT_SOVITS_HOME`).

ttsx imports upstream's model code from the checkout to build the reference and the graphs, and
ships none of it.

    recipe.py    what GPT-SoVITS v2 is: t2s and SoVITS sizes, sampling constants, budgets (no torch)
    reference.py finding and importing the checkout; random weights or a checkpoint pair (.ckpt + .pth)
    kinds.py     the four graphs as GraphKinds: spec, wrapper, parity cases, feeds, reference, axis ranges
    graphs.py    the export wrappers (also what the torch backend runs)
    voices.py    voices: a reference's prompt ids, its phonemes and its spectrogram, stored in the artifact
    phonemes.py  text to phoneme ids: upstream's front end when the checkout has it, phoneme symbols otherwise
    pipeline.py  the generation loop: infer_panel_naive's sampling over the t2s graph, then the VITS decode
    baseline.py  eager infer_panel + decode, timed, for `ttsx bench`
    family.py    GptSovitsFamily: what generic code asks beyond the graphs
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
