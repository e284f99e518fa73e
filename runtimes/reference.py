"""The PyTorch reference of an artifact, rebuilt from its recorded source and checked by weights sha256.

The torch backends run it, parity compares against it, the bench times its eager generation.
"""
from __future__ import annotations

from pathlib import Path

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.recipes import get_family
from ttsx.recipes.source import ModelSource


def reference_model(artifact: Artifact, model_dir: str | None = None):
    """Rebuild the exact reference the artifact was exported from, checked by weights sha256."""
    source = artifact.manifest["source"]
    family = get_family(artifact.recipe.family)
    if source["kind"] == "random":
        if model_dir is not None:
            raise TtsxError(f"{artifact.root} was exported from seeded random weights, which parity rebuilds "
                            f"itself; --model {model_dir} would not be used: drop it")
        spec = ModelSource("random", seed=source["seed"])
    elif model_dir is not None or source["kind"] == "hub":
        location = model_dir or source["location"]
        spec = ModelSource("checkpoint" if Path(location).exists() else "hub", location=location)
    elif Path(source["location"]).is_dir():
        spec = ModelSource("checkpoint", location=source["location"])
    else:
        raise TtsxError(f"{artifact.root} was exported from the checkpoint directory {source['location']}, which "
                        "is gone; pass --model DIR with that checkpoint (its weights are checked by sha256)")
    model = family.load_reference(artifact.recipe, spec)
    if family.fingerprint(model) != source["weights_sha256"]:
        raise ArtifactError(f"the reference weights rebuilt from {spec} differ from those exported into "
                            f"{artifact.root}; pass --model with the exported checkpoint (or re-export with "
                            "this torch/transformers version)")
    return model
