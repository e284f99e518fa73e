"""Python API: `ttsx.load(artifact_dir, backend=...)` returns the artifact family's callable pipeline."""
from __future__ import annotations

from pathlib import Path

from ttsx.artifact.manifest import load_artifact


def load(artifact_dir: str | Path, backend: str = "onnxruntime", model_dir: str | None = None, **session_options):
    """Load and verify an artifact; returns its family's Pipeline (`pipeline(texts, options=...) -> Speech`).

    `options` may be a ttsx.SynthesisOptions (seed, greedy, temperature, top_k, top_p, max_tokens) or
    the family's own options. backend="torch" runs the PyTorch reference modules (rebuilt from the
    recorded source; `model_dir` if the checkpoint moved); "torch-compiled" runs them through torch.compile.
    """
    from ttsx.runtimes.factory import open_pipeline

    artifact = load_artifact(artifact_dir)
    reference = None
    if backend.startswith("torch"):
        from ttsx.runtimes.reference import reference_model

        reference = reference_model(artifact, model_dir)
    return open_pipeline(artifact, backend, reference, **session_options)
