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


PRESET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # what a request's `voice` may name


def add_voice_preset(root: Path, name: str, voice: Path, force: bool = False) -> str:
    """Copy a voice file into artifact `root` as preset `name` (voices/NAME.npz, hashed into the manifest).

    The voice file lands first under its final name, unlisted (an artifact ignores unlisted files); the
    manifest that lists it is then replaced in one rename, so a reader sees the old or the new artifact."""
    import json

    from ttsx.artifact.manifest import MANIFEST, read_manifest, sha256_file
    from ttsx.base.errors import TtsxError

    from .writer import _write_synced

    if not PRESET_NAME.fullmatch(name):
        raise TtsxError(f"preset name {name!r}: use 1-64 letters, digits, '_', '.' or '-', starting with a letter "
                        "or digit (requests name presets by it)")
    manifest = read_manifest(root)
    voices = manifest.setdefault("voices", {})
    if name in voices and not force:
        raise TtsxError(f"{root} already has a voice preset {name!r}; pass --force to replace it or choose another")
    relative = voice_file_name(name, Path(voice).suffix)
    target = Path(root) / relative
    target.parent.mkdir(exist_ok=True)
    staged = target.with_name(f".{target.name}.partial")
    shutil.copyfile(voice, staged)
    staged.replace(target)
    voices[name] = relative
    manifest["files"][relative] = sha256_file(target)
    _write_synced(Path(root) / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return relative
