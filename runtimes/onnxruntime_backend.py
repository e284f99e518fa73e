"""onnxruntime backend: CPU by default, CUDA when onnxruntime-gpu is installed."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from .session import StageSession

DEFAULT_PROVIDERS = ("CPUExecutionProvider",)


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    import onnxruntime

    return onnxruntime.get_available_providers()


class OnnxruntimeSession(StageSession):
    """One ONNX graph in an onnxruntime InferenceSession."""

    backend = "onnxruntime"

    def __init__(self, path: Path, spec: GraphSpec, providers: tuple[str, ...] = DEFAULT_PROVIDERS,
                 threads: int | None = None):
        import onnxruntime

        super().__init__(spec)
        missing = [p for p in providers if p not in onnxruntime.get_available_providers()]
        if missing:
            raise TtsxError(f"onnxruntime providers {missing} are not available (have "
                            f"{onnxruntime.get_available_providers()}); for CUDA install ttsx[gpu]")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self._session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))

    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._session.run(self.spec.output_names, feed)
        return dict(zip(self.spec.output_names, outputs))

    def close(self) -> None:
        self._session = None
