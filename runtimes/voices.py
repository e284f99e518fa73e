"""Voice presets (Bark history prompts): loaded without pickle and checked before use."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.artifact import Artifact, safe_path
from ttsx.errors import TtsxError

PROMPTS = {"semantic_prompt": 1, "coarse_prompt": 2, "fine_prompt": 2}  # key: rank


def load_voice(artifact: Artifact, voice: str | Path) -> dict[str, np.ndarray]:
    """A preset by name (from the artifact's voices) or a path to an .npz file."""
    voices = artifact.manifest.get("voices", {})
    if str(voice) in voices:
        path = safe_path(artifact.root, voices[str(voice)])
    elif str(voice).endswith(".npz") and Path(voice).is_file():
        path = Path(voice)
    else:
        known = ", ".join(sorted(voices)) or "none in this artifact"
        raise TtsxError(f"unknown voice {str(voice)!r}; known voices: {known}; or pass a path to an .npz file")
    try:
        with np.load(path, allow_pickle=False) as data:
            prompt = {key: np.asarray(data[key]) for key in PROMPTS if key in data}
    except (ValueError, OSError) as exc:
        raise TtsxError(f"voice file {path} can't be read as a plain .npz ({exc})") from exc
    check_voice(prompt, path, artifact.recipe.constants)
    return prompt


def check_voice(prompt: dict, where, c) -> None:
    """Keys, ranks, integer dtype and id ranges of a history prompt (c: the recipe's BarkConstants)."""
    bounds = {"semantic_prompt": c.semantic_vocab, "coarse_prompt": c.codebook_size, "fine_prompt": c.codebook_size}
    for key, rank in PROMPTS.items():
        bound = bounds[key]
        value = prompt.get(key)
        if value is None:
            raise TtsxError(f"voice {where}: missing {key!r}")
        if value.ndim != rank or not np.issubdtype(value.dtype, np.integer) or value.size == 0:
            raise TtsxError(f"voice {where}: {key!r} must be a non-empty integer array of rank {rank}")
        if value.min() < 0 or value.max() >= bound:
            raise TtsxError(f"voice {where}: {key!r} holds ids outside [0, {bound})")
    if prompt["coarse_prompt"].shape[0] != c.n_coarse_codebooks or prompt["fine_prompt"].shape[0] != c.n_fine_codebooks:
        raise TtsxError(f"voice {where}: coarse_prompt must be [{c.n_coarse_codebooks}, T] and fine_prompt "
                        f"[{c.n_fine_codebooks}, T]")
