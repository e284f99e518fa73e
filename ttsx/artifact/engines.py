"""TensorRT engine directories: the manifest format, and the checks that an engine fits this machine.

    ENGINES/                   default: ARTIFACT/engines
      manifest.json            format "ttsx-engines"; written last, lists every file with its sha256
      <graph>.engine           one serialized engine per graph; causal graphs: a prefill and a decode profile
      ...
      timing.cache             TensorRT's kernel timings, reused by the next build

An engine runs only on the TensorRT version and GPU model it was built with; anything else is an
EngineMismatchError that says to rebuild. Nothing here imports TensorRT at module import.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ttsx.base.schema import ENGINES as ENGINES_SCHEMA
from ttsx.artifact.manifest import MANIFEST, Artifact, parse_manifest, safe_path, sha256_file
from ttsx.base.errors import ArtifactError, TtsxError

ENGINE_FORMAT = "ttsx-engines"
ENGINE_FORMAT_VERSION = 2  # 2: profiles per phase (prefill, decode) for in-place caches
ENGINES_DIR = "engines"  # default engine directory inside the artifact
TENSORRT_PIP = "pip install 'ttsx[tensorrt]'  (tensorrt-cu13 11.x; needs an NVIDIA driver for CUDA 13)"


class EngineMismatchError(TtsxError):
    """An engine directory was built for another TensorRT, GPU or artifact."""


def import_tensorrt():
    """The tensorrt module, or a TtsxError saying how to install it."""
    try:
        import tensorrt
    except (ImportError, OSError) as exc:  # OSError: the bindings load but libnvinfer.so.11 is missing
        raise TtsxError(f"TensorRT is not usable here ({exc}); install it with {TENSORRT_PIP}") from None
    major = int(tensorrt.__version__.split(".")[0])
    if major < 11:
        raise TtsxError(f"TensorRT {tensorrt.__version__} is installed; ttsx builds strongly typed TensorRT 11 "
                        f"engines: {TENSORRT_PIP}")
    return tensorrt


def gpu_identity() -> dict:
    """{"name", "compute_capability"} of the current CUDA device, or a TtsxError without one."""
    import torch

    if not torch.cuda.is_available():
        raise TtsxError("TensorRT engines need a CUDA GPU and torch built with CUDA; none is visible here")
    major, minor = torch.cuda.get_device_capability()
    return {"name": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}


def default_engines_dir(artifact_dir: str | Path) -> Path:
    """Where `ttsx build-engine` writes and the tensorrt backend looks when no directory is given."""
    return Path(artifact_dir) / ENGINES_DIR


def read_engine_manifest(root: Path, artifact_dir: Path | None = None) -> dict:
    """Parse ENGINES/manifest.json (engine files are hashed as they are loaded: engine_bytes)."""
    path = root / MANIFEST
    hint = f"`ttsx build-engine {artifact_dir or 'ARTIFACT'} -o {root}`"
    if not path.is_file():
        raise ArtifactError(f"no TensorRT engines at {root} ({MANIFEST} missing); build them with {hint}")
    return parse_manifest(path, ENGINE_FORMAT, ENGINE_FORMAT_VERSION, f"rebuild with {hint} --force",
                          ENGINES_SCHEMA, outdated=EngineMismatchError)


def engine_bytes(root: Path, manifest: dict, graph: str) -> bytes:
    """The serialized engine of `graph`, refused unless its bytes have the manifest's sha256."""
    relative = manifest["engines"][graph]["file"]
    data = safe_path(root, relative).read_bytes()
    if hashlib.sha256(data).hexdigest() != manifest.get("files", {}).get(relative):
        raise ArtifactError(f"{root / relative} changed since it was built (sha256 differs from {MANIFEST}) or is "
                            f"not listed there; rebuild with `ttsx build-engine ... -o {root} --force`")
    return data


def check_compatible(manifest: dict, tensorrt_version: str, gpu: dict, root: Path) -> None:
    """Engines are tied to the TensorRT version and GPU model that built them."""
    built, here = manifest["tensorrt"], {"version": tensorrt_version, **gpu}
    differs = [key for key in ("version", "name", "compute_capability") if built.get(key) != here.get(key)]
    if differs:
        raise EngineMismatchError(f"the engines in {root} were built with {_describe(built)}; this machine has "
                                  f"{_describe(here)}. TensorRT engines are not portable: rebuild them here with "
                                  f"`ttsx build-engine {manifest['source']['path']} -o {root} --force`")


def _describe(build: dict) -> str:
    return f"TensorRT {build.get('version')} on {build.get('name')} (sm {build.get('compute_capability')})"


def check_source(manifest: dict, artifact: Artifact, root: Path) -> None:
    """The engines must come from this artifact (or from a precision derived from it during the build)."""
    mine = sha256_file(artifact.root / MANIFEST)
    source = manifest["source"]
    if mine not in (source["manifest_sha256"], source.get("derived_from_sha256")):
        raise EngineMismatchError(f"the engines in {root} were built from {source['path']}, not from "
                                  f"{artifact.root} (manifest sha256 differs); rebuild with "
                                  f"`ttsx build-engine {artifact.root} -o {root} --force`")
