"""Open stage sessions on a named backend; adding a backend is one module plus one entry here."""
from __future__ import annotations

from ttsx.artifact import Artifact
from ttsx.errors import TtsxError

from .session import StageSession

BACKENDS = ("onnxruntime", "torch", "tensorrt")


def open_sessions(artifact: Artifact, graphs: list[str], backend: str = "onnxruntime", reference_model=None,
                  **options) -> dict[str, StageSession]:
    """Sessions for `graphs` of `artifact` on `backend`; tensorrt sessions share one engine set and stream.

    Options: onnxruntime takes `providers`, `threads`; tensorrt takes `engines` (the engine
    directory, default ARTIFACT/engines) and `cuda_graphs`; torch needs `reference_model`.
    """
    if backend == "tensorrt":
        from .tensorrt_backend import EngineSet

        engines = EngineSet(artifact, options.pop("engines", None))
        return {name: engines.session(name, **options) for name in graphs}
    return {name: open_session(artifact, name, backend, reference_model, **options) for name in graphs}


def open_session(artifact: Artifact, graph: str, backend: str = "onnxruntime", reference_model=None,
                 **options) -> StageSession:
    """A session for `graph` of `artifact` on `backend` (torch needs the reference BarkModel)."""
    if backend not in BACKENDS:
        raise TtsxError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    spec = artifact.graph_spec(graph)
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxruntimeSession

        return OnnxruntimeSession(artifact.graph_path(graph), spec, **options)
    if backend == "tensorrt":
        return open_sessions(artifact, [graph], backend, **options)[graph]
    if reference_model is None:
        raise TtsxError("the torch backend runs the reference modules: load the reference model first")
    from ttsx.exporter.bark_graphs import graph_module

    from .torch_backend import TorchSession

    # The torch backend is the fp32 reference whatever the artifact's precision: it runs the
    # export wrappers on the reference weights with the recipe's fp32 I/O.
    reference = artifact.recipe.graph(graph)
    return TorchSession(graph_module(reference_model, artifact.recipe, reference), reference)


def backend_precision(artifact: Artifact, backend: str, engines=None) -> str:
    """The precision a backend computes in: the engines' for tensorrt, fp32 for torch, else the artifact's."""
    if backend == "tensorrt":
        from ttsx.engines import default_engines_dir, read_engine_manifest

        return read_engine_manifest(engines or default_engines_dir(artifact.root), artifact.root)["precision"]
    return "fp32" if backend == "torch" else artifact.precision
