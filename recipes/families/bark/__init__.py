"""The Bark family (suno's Bark through transformers): everything Bark-specific lives in this folder.

    recipe.py    what Bark is: architectures, constants, budgets, limits (no torch)
    kinds.py     the four graphs as GraphKinds: spec, wrapper, parity cases, feeds, reference, axis ranges
    graphs.py    the export wrappers (also what the torch backend runs)
    reference.py the transformers reference: random weights or a checkpoint
    stages.py    the four stages' algorithms over stage sessions (mirroring BarkModel.generate)
    pipeline.py  the generation loop: text -> audio
    voices.py    speaker presets: converted at export, loaded at synthesis
    baseline.py  eager transformers, timed, for `ttsx bench`
    family.py    BarkFamily: what generic code asks beyond the graphs (assets, prompts, the pipeline)
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
