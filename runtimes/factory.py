"""Open stage sessions on a named backend, and a family's pipeline over them.

Adding a backend is one module plus one entry in BACKENDS and OPENERS (its opener); adding a family touches
nothing here (the torch backend runs the module each graph's kind exports, `GraphKind.module`).
"""
from __future__ import annotations

from typing import Callable

from ttsx.artifact.manifest import Artifact
from ttsx.base.errors import TtsxError
from ttsx.recipes import get_family

from . import BACKENDS
from .session import StageSession



def open_pipeline(artifact: Artifact, backend: str = "onnxruntime", reference_model=None,
                  wrap: Callable[[StageSession], StageSession] | None = None, **options):
    """The artifact's family pipeline over sessions of every graph on `backend` (`wrap`: e.g. a recorder).

    Graphs of the family's `on_demand_stages` (run rarely, e.g. once per new voice) open at their first run."""
    later = set(get_family(artifact.recipe.family).on_demand_stages)
    now = [g for g in artifact.graph_names if artifact.graph_spec(g).stage not in later]
    sessions = open_sessions(artifact, now, backend, reference_model, **dict(options))
    if wrap is not None:
        sessions = {name: wrap(session) for name, session in sessions.items()}
    for graph in artifact.graph_names:
        if graph not in sessions:
            sessions[graph] = OnDemandSession(
                lambda graph=graph: open_session(artifact, graph, backend, reference_model, **dict(options)))
    try:
        return get_family(artifact.recipe.family).open_pipeline(artifact, sessions)
    except BaseException:
        for session in sessions.values():
            session.close()
        raise


def open_sessions(artifact: Artifact, graphs: list[str], backend: str = "onnxruntime", reference_model=None,
                  **options) -> dict[str, StageSession]:
    """Sessions for `graphs` of `artifact` on `backend`; tensorrt sessions share one engine set and stream.

    Options: onnxruntime takes `providers`, `threads`; tensorrt takes `engines` (the engine
    directory, default ARTIFACT/engines) and `cuda_graphs`; torch needs `reference_model`.
    """
    if backend == "tensorrt":
        from .tensorrt_backend import engine_set

        engines = engine_set(artifact, options.pop("engines", None))
        return {name: engines.session(name, **options) for name in graphs}
    return {name: open_session(artifact, name, backend, reference_model, **options) for name in graphs}


def open_session(artifact: Artifact, graph: str, backend: str = "onnxruntime", reference_model=None,
                 **options) -> StageSession:
    """A session for `graph` of `artifact` on `backend` (torch needs the reference model)."""
    opener = OPENERS.get(backend)
    if opener is None:
        raise TtsxError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
    return opener(artifact, graph, reference_model, **options)


def _onnxruntime(artifact: Artifact, graph: str, reference_model, **options) -> StageSession:
    """The artifact's graph in onnxruntime (with its prefill graph, where the artifact has one)."""
    from .onnxruntime_backend import OnnxruntimeSession

    spec = artifact.graph_spec(graph)
    session = OnnxruntimeSession(artifact.graph_path(graph), spec, **options)
    prefill = artifact.prefill_path(graph)
    if prefill is None:
        return session
    from .phased import PhasedSession

    return PhasedSession(OnnxruntimeSession(prefill, spec, **options), session)


def _tensorrt(artifact: Artifact, graph: str, reference_model, **options) -> StageSession:
    """The graph's engine (one engine set per call: open_sessions shares one across graphs)."""
    return open_sessions(artifact, [graph], "tensorrt", **options)[graph]


def _torch(artifact: Artifact, graph: str, reference_model, compiled: bool = False, **options) -> StageSession:
    """The family's export wrapper on the reference weights: the fp32 reference whatever the artifact's
    precision, with the recipe's fp32 I/O. The compiled one takes the static cache (the tensorrt flavour's
    math) so that every decode step has one shape."""
    if reference_model is None:
        raise TtsxError("the torch backends run the reference modules: load the reference model first")
    recipe = artifact.recipe
    kv_cache = "tensorrt" if compiled else artifact.kv_cache
    module = recipe.graph_kind(graph).module(reference_model, kv_cache).eval()
    reference = recipe.graph_spec(graph, kv_cache=kv_cache)
    if compiled:
        from .torch_compiled_backend import CompiledTorchSession

        return CompiledTorchSession(module, reference)
    from .torch_backend import TorchSession

    return TorchSession(module, reference)


OPENERS: dict[str, Callable[..., StageSession]] = {  # one entry per backend in runtimes.BACKENDS
    "onnxruntime": _onnxruntime,
    "torch": _torch,
    "torch-compiled": lambda artifact, graph, reference_model, **options: _torch(artifact, graph, reference_model,
                                                                                  compiled=True, **options),
    "tensorrt": _tensorrt,
}
assert tuple(OPENERS) == BACKENDS, "runtimes.BACKENDS and OPENERS list the same backends"


def backend_precision(artifact: Artifact, backend: str, engines=None) -> str:
    """The precision a backend computes in: the engines' for tensorrt, fp32 for torch, else the artifact's."""
    if backend == "tensorrt":
        from ttsx.artifact.engines import default_engines_dir, read_engine_manifest

        return read_engine_manifest(engines or default_engines_dir(artifact.root), artifact.root)["precision"]
    return "fp32" if backend.startswith("torch") else artifact.precision


class OnDemandSession:
    """A graph's session opened at its first run (and closed with the pipeline if it was)."""

    def __init__(self, opener: Callable[[], StageSession]):
        self._opener, self._session = opener, None

    def run(self, feed: dict, host: tuple[str, ...] | None = None) -> dict:
        """As StageSession.run, opening the session first if needed."""
        if self._session is None:
            self._session = self._opener()
        return self._session.run(feed, host)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None
