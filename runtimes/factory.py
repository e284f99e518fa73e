"""Open a stage session on a named backend; adding a backend is one module plus one entry here."""
from __future__ import annotations

from ttsx.artifact import Artifact
from ttsx.errors import TtsxError

from .session import StageSession

BACKENDS = ("onnxruntime", "torch")


def open_session(artifact: Artifact, graph: str, backend: str = "onnxruntime", reference_model=None,
                 **options) -> StageSession:
    """A session for `graph` of `artifact` on `backend` (torch needs the reference BarkModel)."""
    spec = artifact.graph_spec(graph)
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxruntimeSession

        return OnnxruntimeSession(artifact.graph_path(graph), spec, **options)
    if backend == "torch":
        if reference_model is None:
            raise TtsxError("the torch backend runs the reference modules: load the reference model first")
        from ttsx.exporter.bark_graphs import graph_module

        from .torch_backend import TorchSession

        # The torch backend is the fp32 reference whatever the artifact's precision: it runs the
        # export wrappers on the reference weights with the recipe's fp32 I/O.
        reference = artifact.recipe.graph(graph)
        return TorchSession(graph_module(reference_model, artifact.recipe, reference), reference)
    raise TtsxError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
