"""The versions of the libraries that shape an artifact or a measurement (manifests and bench reports record them)."""
from __future__ import annotations

import platform
from importlib import metadata

VERSIONED = ("ttsx", "torch", "transformers", "onnx", "onnxruntime")


def library_versions() -> dict[str, str]:
    """Python's version and each of VERSIONED's ("not installed" where absent)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
