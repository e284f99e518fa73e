"""Non-graph assets copied from a checkpoint: the tokenizer and voice presets."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np

from ttsx.errors import SourceError

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
SPEAKER_INDEX = "speaker_embeddings_path.json"  # written by BarkProcessor.save_pretrained
PROMPT_KEYS = ("semantic_prompt", "coarse_prompt", "fine_prompt")


def copy_tokenizer(src: Path, dst: Path) -> str | None:
    """Copy tokenizer files into dst/tokenizer; the relative dir, or None when src has none."""
    found = [src / name for name in TOKENIZER_FILES if (src / name).is_file()]
    if not found:
        return None
    (dst / "tokenizer").mkdir()
    for path in found:
        shutil.copy2(path, dst / "tokenizer" / path.name)
    return "tokenizer"


def voice_file_name(name: str) -> str:
    """voices/<name>.npz with path separators and odd characters made safe."""
    return "voices/" + re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace("/", "__")) + ".npz"


def copy_voices(src: Path, dst: Path) -> dict[str, str]:
    """Convert Bark speaker embeddings (.npy triples) into voices/*.npz; {preset name: relative file}."""
    index_path = src / SPEAKER_INDEX
    if not index_path.is_file():
        return {}
    index = json.loads(index_path.read_text(encoding="utf-8"))
    voices = {}
    for name, prompts in index.items():
        if not isinstance(prompts, dict):
            continue  # e.g. "repo_or_path"
        arrays = {key: _load_npy(src, prompts.get(key), name, key) for key in PROMPT_KEYS}
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
