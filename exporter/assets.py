"""Non-graph assets copied from a checkpoint (generic helpers a family's copy_assets uses)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def copy_tokenizer(src: Path, dst: Path, files: tuple[str, ...] = TOKENIZER_FILES) -> str | None:
    """Copy tokenizer files from src into dst/tokenizer; the relative dir, or None when src has none."""
    found = [src / name for name in files if (src / name).is_file()]
    if not found:
        return None
    (dst / "tokenizer").mkdir()
    for path in found:
        shutil.copy2(path, dst / "tokenizer" / path.name)
    return "tokenizer"


def voice_file_name(name: str, suffix: str = ".npz") -> str:
    """voices/<name><suffix> with path separators and odd characters made safe."""
    return "voices/" + re.sub(r"[^A-Za-z0-9_.-]", "_", name.replace("/", "__")) + suffix
