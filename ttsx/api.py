"""Python API: `ttsx.load(artifact_dir, backend=...)` returns a callable pipeline."""
from __future__ import annotations

from pathlib import Path

from ttsx.artifact import load_artifact
from ttsx.errors import TtsxError


def load(artifact_dir: str | Path, backend: str = "onnxruntime", model_dir: str | None = None, **session_options):
    """Load and verify an artifact; returns a BarkPipeline (`pipeline(texts) -> Speech`)."""
    from ttsx.runtimes.bark_pipeline import BarkPipeline

    artifact = load_artifact(artifact_dir)
    if artifact.manifest.get("family") != "bark":
        raise TtsxError(f"{artifact_dir}: no pipeline for model family {artifact.manifest.get('family')!r}")
    reference = None
    if backend == "torch":
        from ttsx.parity import reference_model

        reference = reference_model(artifact, model_dir)
    return BarkPipeline(artifact, backend, reference, **session_options)
