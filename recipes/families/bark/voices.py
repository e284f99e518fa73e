"""Voice presets (Bark history prompts): converted from a checkpoint at export, loaded without pickle and checked."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.files import load_npz
from ttsx.base.errors import SourceError, TtsxError
from ttsx.exporter.assets import voice_file_name

SPEAKER_INDEX = "speaker_embeddings_path.json"  # written by BarkProcessor.save_pretrained

PROMPTS = {"semantic_prompt": 1, "coarse_prompt": 2, "fine_prompt": 2}  # key: rank


def load_voice(artifact: Artifact, path: Path) -> dict[str, np.ndarray]:
    """A history prompt from a preset's (or a user's) .npz file, checked."""
    prompt = load_npz(path, tuple(PROMPTS))
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


def convert_voices(src: Path, dst: Path) -> dict[str, str]:
    """Bark speaker embeddings (.npy triples) of a checkpoint -> dst/voices/*.npz; {preset name: relative file}."""
    index_path = src / SPEAKER_INDEX
    if not index_path.is_file():
        return {}
    index = json.loads(index_path.read_text(encoding="utf-8"))
    voices = {}
    for name, prompts in index.items():
        if not isinstance(prompts, dict):
            continue  # e.g. "repo_or_path"
        arrays = {key: _load_npy(src, prompts.get(key), name, key) for key in PROMPTS}
        relative = voice_file_name(name)
        (dst / relative).parent.mkdir(exist_ok=True)
        np.savez(dst / relative, **arrays)
        voices[name] = relative
    return voices


def _load_npy(src: Path, relative: str | None, name: str, key: str) -> np.ndarray:
    path = (src / relative).resolve() if relative else None
    if path is None or not path.is_relative_to(src.resolve()) or not path.is_file():
        raise SourceError(f"voice preset {name!r}: {key} file {relative!r} is missing or outside {src}")
    return np.load(path, allow_pickle=False)
