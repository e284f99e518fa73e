"""Atomic artifact writing: stage everything in a sibling directory, write the manifest last, swap in.

An interrupted export leaves at most a `.NAME.partial-*` directory (never OUT with a manifest that
points at missing or partial files); OUT is either the previous complete artifact or absent.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from pathlib import Path

from ttsx.artifact.manifest import MANIFEST, sha256_file
from ttsx.base.errors import ArtifactError

OUT_OF_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # disk full, quota, file size limit


class ArtifactWriter:
    """Context manager: `with ArtifactWriter(out) as w: ...write into w.root...; w.commit(manifest)`."""

    def __init__(self, out: str | Path, force: bool = False):
        self.out = Path(out).absolute()
        self.force = force
        self.root = self.out.parent / f".{self.out.name}.partial-{uuid.uuid4().hex[:8]}"
        self.committed = False

    def __enter__(self) -> "ArtifactWriter":
        self._check_target()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.root.mkdir()
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        if not self.committed:
            shutil.rmtree(self.root, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in OUT_OF_SPACE:
            raise ArtifactError(f"out of disk space while writing {self.out} ({exc.strerror}); nothing was "
                                f"written there. Free space on {self.out.parent} or choose another -o") from exc

    def _check_target(self) -> None:
        if not self.out.exists():
            return
        if not self.out.is_dir():
            raise ArtifactError(f"{self.out} exists and is not a directory; choose another -o")
        is_artifact = (self.out / MANIFEST).is_file()
        if not self.force:
            raise ArtifactError(f"{self.out} already exists; pass --force to replace it or choose another -o")
        if not is_artifact and any(self.out.iterdir()):
            raise ArtifactError(f"{self.out} is a non-empty directory that is not a ttsx artifact; refusing to "
                                "replace it even with --force")

    def commit(self, manifest: dict) -> Path:
        """Hash every staged file into the manifest, write it last, and move the artifact into place."""
        files = sorted(p for p in self.root.rglob("*") if p.is_file())
        manifest["files"] = {p.relative_to(self.root).as_posix(): sha256_file(p) for p in files}
        _write_synced(self.root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
        old = self.out.parent / f".{self.out.name}.old-{uuid.uuid4().hex[:8]}"
        if self.out.exists():
            os.replace(self.out, old)
        os.replace(self.root, self.out)
        self.committed = True
        shutil.rmtree(old, ignore_errors=True)
        return self.out


def _write_synced(path: Path, text: str) -> None:
    """Write text durably: temp file, fsync, rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
