"""Files from and for the user: outputs checked before the work starts, inputs read within stated limits.

Limits (docs/security.md): a batch file at most MAX_TEXT_FILE_BYTES, a voice file at most MAX_VOICE_FILE_BYTES
with at most MAX_VOICE_ELEMENTS per array (checked from the .npy headers before anything is decompressed).
Inputs must be regular files: a FIFO would block and /dev/zero would never end.
"""
from __future__ import annotations

import os
import stat
import uuid
import zipfile
from pathlib import Path

import numpy as np

from ttsx.base.errors import TtsxError

MAX_TEXT_FILE_BYTES = 1 << 20  # 1 MiB of texts per --batch-file
MAX_VOICE_FILE_BYTES = 16 << 20  # 16 MiB per voice .npz
MAX_VOICE_ELEMENTS = 1 << 20  # elements per voice array (history prompts hold a few thousand)


def check_output(path: Path, what: str = "output") -> None:
    """Fail now, before any work, if `path` can't be (re)placed by a regular file written atomically."""
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        kind = "a symlink" if path.is_symlink() else "not a regular file"
        raise TtsxError(f"{what} {path} is {kind}; ttsx writes regular files only (atomically, by rename), "
                        "so it would replace it: give the path of a regular file")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise TtsxError(f"{what} {path}: directory {parent} does not exist; create it first")
    probe = parent / f".{path.name}.{uuid.uuid4().hex[:8]}.probe"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise TtsxError(f"{what} {path} can't be written ({exc.strerror}: {parent}); choose another path") from None


def write_atomic(path: Path, write, what: str = "output") -> Path:
    """Call write(tmp_path), then rename tmp over `path`; a failure leaves no file behind and names the cause."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise TtsxError(f"could not write {what} {path} ({exc.strerror or exc}); nothing was written there") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_regular(path: Path, limit: int, what: str) -> bytes:
    """The bytes of a regular file of at most `limit` bytes (no FIFO, device or oversized file is read)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise TtsxError(f"{what} {path} can't be read ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise TtsxError(f"{what} {path} is not a regular file (a FIFO or device?); give a file")
    if info.st_size > limit:
        raise TtsxError(f"{what} {path} has {info.st_size} bytes; at most {limit} are read")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TtsxError(f"{what} {path} grew past {limit} bytes while it was read")
    return data


def load_npz(path: Path, keys: tuple[str, ...], what: str = "voice file") -> dict[str, np.ndarray]:
    """Plain (unpickled) arrays `keys` of an .npz, each at most MAX_VOICE_ELEMENTS, checked before it is read."""
    read_regular(path, MAX_VOICE_FILE_BYTES, what)  # type and size only; the arrays are read below
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" in names:
                    _check_header(archive, f"{key}.npy", path, what)
        with np.load(path, allow_pickle=False) as data:
            return {key: np.asarray(data[key]) for key in keys if key in data}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise TtsxError(f"{what} {path} can't be read as a plain .npz ({exc})") from exc


def _check_header(archive: zipfile.ZipFile, name: str, path: Path, what: str) -> None:
    with archive.open(name) as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
    if dtype.hasobject:
        raise TtsxError(f"{what} {path}: {name} holds Python objects; can't be read as a plain .npz")
    if int(np.prod(shape, dtype=np.float64)) > MAX_VOICE_ELEMENTS:
        raise TtsxError(f"{what} {path}: {name} has shape {shape}; at most {MAX_VOICE_ELEMENTS} elements per array")
