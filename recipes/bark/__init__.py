"""The Bark family (suno's Bark through transformers): everything Bark-specific lives in this folder.

    recipe.py    what Bark is: architectures, constants, the six graph specs, budgets (no torch)
    graphs.py    the export wrappers (also what the torch backend runs)
    reference.py the transformers reference: loading, parity cases, feeds, reference outputs
    stages.py    the four stages' algorithms over stage sessions (mirroring BarkModel.generate)
    pipeline.py  the generation loop: text -> audio
    voices.py    speaker presets: converted at export, loaded at synthesis
    baseline.py  eager transformers, timed, for `ttsx bench`
    family.py    BarkFamily: the interface generic code uses
"""
from .family import FAMILY
from .recipe import RECIPES

__all__ = ["FAMILY", "RECIPES"]
