"""TensorRT engine directories: the manifest format, and the checks that an engine fits this machine.

    ENGINES/                   default: ARTIFACT/engines
      manifest.json            format "ttsx-engines"; written last, lists every file with its sha256
      <graph>.engine           one serialized engine per graph; causal graphs: a prefill and a decode profile
      ...
      timing.cache             TensorRT's kernel timings, reused by the next build

Two builders make them (BUILDERS): TensorRT 11, which builds on and for the GPU it runs on, and TensorRT
for RTX, which builds ahead of time on any machine (no GPU needed) for a list of compute capabilities.
An engine runs only with the builder and version that made it, on a GPU it targets; anything else is an
EngineMismatchError that says to rebuild. Nothing here imports TensorRT at module import.
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path

from ttsx.base.schema import ENGINES as ENGINES_SCHEMA
from ttsx.artifact.manifest import MANIFEST, Artifact, parse_manifest, safe_path, sha256_file
from ttsx.base.errors import ArtifactError, TtsxError

ENGINE_FORMAT = "ttsx-engines"
ENGINE_FORMAT_VERSION = 3  # 2: profiles per phase (prefill, decode); 3: the builder (TensorRT or TensorRT for RTX)
ENGINES_DIR = "engines"  # default engine directory inside the artifact


class EngineMismatchError(TtsxError):
    """An engine directory was built for another TensorRT, GPU or artifact."""


@dataclass(frozen=True)
class Builder:
    """One TensorRT flavour ttsx builds and runs engines with (the same strongly typed API, two libraries)."""

    name: str  # as the manifest and --builder name it
    module: str  # what Python imports
    title: str
    pip: str  # how to install it
    needs_gpu: bool  # to build: TensorRT 11 builds for the GPU it runs on; TensorRT for RTX ahead of time, anywhere
    min_major: int


BUILDERS = {
    "tensorrt": Builder("tensorrt", "tensorrt", "TensorRT", "pip install 'ttsx[tensorrt]' (tensorrt-cu13 11.x; needs "
                        "an NVIDIA driver for CUDA 13)", needs_gpu=True, min_major=11),
    "tensorrt-rtx": Builder("tensorrt-rtx", "tensorrt_rtx", "TensorRT for RTX", "pip install 'ttsx[tensorrt-rtx]' "
                            "(tensorrt-rtx-cu13 1.7, builds without a GPU)", needs_gpu=False, min_major=1),
}
# TensorRT for RTX's targets (docs "CPU-Only AOT and TensorRT-RTX Engines", support matrix 1.7): by default
# 8.0, 8.6, 8.9, 12.0 and later; 7.5 (Turing) only when asked for. No Hopper (9.0) and no 10.x.
RTX_DEFAULT_TARGETS = ("8.0", "8.6", "8.9", "12.0")
RTX_TARGETS = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
RTX_RUNS_ON = "RTX-class GPUs of compute capability 8.0, 8.6, 8.9 and 12.x by default (Ampere, Ada, Blackwell), " \
              "7.5 (Turing) when built with --compute-capability 7.5; not Hopper (H100/H200)"


def import_tensorrt(builder: str = "tensorrt"):
    """The module of `builder` (a BUILDERS name), or a TtsxError saying how to install it."""
    flavour = BUILDERS[builder]
    try:
        module = importlib.import_module(flavour.module)
    except (ImportError, OSError) as exc:  # OSError: the bindings load but libnvinfer.so.11 is missing
        raise TtsxError(f"{flavour.title} is not usable here ({exc}); install it with {flavour.pip}") from None
    if int(module.__version__.split(".")[0]) < flavour.min_major:
        raise TtsxError(f"{flavour.title} {module.__version__} is installed; ttsx builds strongly typed engines "
                        f"with {flavour.title} >= {flavour.min_major}: {flavour.pip}")
    return module


def choose_builder(requested: str | None) -> tuple[Builder, object]:
    """The builder to use and its module. None ("auto"): TensorRT 11 where it and a GPU are usable, else TensorRT
    for RTX; a TtsxError names both installs when neither is."""
    if requested is not None:
        if requested not in BUILDERS:
            raise TtsxError(f"unknown builder {requested!r}; choose {', '.join(BUILDERS)}")
        module = import_tensorrt(requested)
        if BUILDERS[requested].needs_gpu:
            gpu_identity()
        return BUILDERS[requested], module
    reasons = []
    for name, flavour in BUILDERS.items():
        try:
            module = import_tensorrt(name)
            if flavour.needs_gpu:
                gpu_identity()
            return flavour, module
        except TtsxError as exc:
            reasons.append(str(exc))
    raise TtsxError("no TensorRT builder is usable here: " + "; ".join(reasons))


def gpu_identity() -> dict:
    """{"name", "compute_capability"} of the current CUDA device, or a TtsxError without one."""
    import torch

    if not torch.cuda.is_available():
        raise TtsxError("TensorRT engines need a CUDA GPU and torch built with CUDA; none is visible here")
    major, minor = torch.cuda.get_device_capability()
    return {"name": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}"}


def visible_gpu() -> dict | None:
    """gpu_identity, or None without a GPU."""
    try:
        return gpu_identity()
    except TtsxError:
        return None


def runs_on(build: dict, gpu: dict) -> bool:
    """Whether engines of the manifest's "builder" entry run on `gpu` (TensorRT 11: the very GPU model it was built
    on; TensorRT for RTX: one of its target compute capabilities, 12.x included by its default)."""
    here = gpu["compute_capability"]
    if build["name"] == "tensorrt":
        return (build.get("gpu") or {}).get("name") == gpu["name"] and here in build["compute_capabilities"]
    if build.get("targets_set_by") == "builder default" and int(here.split(".")[0]) >= 12:
        return True
    return here in build["compute_capabilities"]


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


def check_compatible(manifest: dict, builder: str, version: str, gpu: dict, root: Path) -> None:
    """Engines run only with the builder and version that made them, on a GPU they were built for."""
    built = manifest["builder"]
    rebuild = f"rebuild them here with `ttsx build-engine {manifest['source']['path']} -o {root} --force`"
    if (built["name"], built["version"]) != (builder, version):
        raise EngineMismatchError(f"the engines in {root} were built with {_describe(built)}; this process has "
                                  f"{BUILDERS[builder].title} {version}. TensorRT engines are not portable: {rebuild}")
    if not runs_on(built, gpu):
        here = gpu["compute_capability"]
        if built["name"] != "tensorrt-rtx":
            where, advice = "that GPU model only", ""
        elif here in RTX_TARGETS:
            where = f"compute capability {', '.join(built['compute_capabilities'])}"
            advice = f" --builder tensorrt-rtx --compute-capability {here}" + (" --precision fp16" if here == "7.5" else "")
        else:
            where, advice = RTX_RUNS_ON, " --builder tensorrt (TensorRT 11 builds for this GPU)"
        raise EngineMismatchError(f"the engines in {root} were built with {_describe(built)}, which runs on {where}; "
                                  f"this GPU is {gpu['name']} (sm {here}): {rebuild}{advice}")


def _describe(build: dict) -> str:
    flavour = BUILDERS.get(build.get("name"), BUILDERS["tensorrt"])
    gpu = build.get("gpu")
    target = f"on {gpu['name']}" if build.get("name") == "tensorrt" and gpu else \
        f"for compute capability {', '.join(build.get('compute_capabilities', []))}"
    return f"{flavour.title} {build.get('version')} {target}"


def check_source(manifest: dict, artifact: Artifact, root: Path) -> None:
    """The engines must come from this artifact (or from a precision derived from it during the build)."""
    mine = sha256_file(artifact.root / MANIFEST)
    source = manifest["source"]
    if mine not in (source["manifest_sha256"], source.get("derived_from_sha256")):
        raise EngineMismatchError(f"the engines in {root} were built from {source['path']}, not from "
                                  f"{artifact.root} (manifest sha256 differs); rebuild with "
                                  f"`ttsx build-engine {artifact.root} -o {root} --force`")
