"""onnxruntime backend: CPU by default, CUDA when onnxruntime-gpu is installed; IO binding throughout."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from .session import StageSession

DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(float16)": "float16",
              "tensor(int32)": "int32", "tensor(bool)": "bool"}


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    import onnxruntime

    return onnxruntime.get_available_providers()


class OnnxruntimeSession(StageSession):
    """One ONNX graph in an onnxruntime InferenceSession.

    Outputs not asked for on the host stay OrtValues where the session computed them (CPU memory
    or the GPU); fed back as inputs they are bound, not copied: no per-step cache round trip.
    """

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
        # A pipeline alternates between sessions every step; threads the last session leaves spinning
        # take the cores from the next one (docs/BENCHMARKS.md: a 4-session decode step 69 -> 45 ms). One
        # process-wide pool measured the same, but then every other onnxruntime session in the process
        # must use it too (onnxruntime refuses per-session pools once a global one exists).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._ort = onnxruntime
        self._session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))
        self._device = "cuda" if providers[0] == "CUDAExecutionProvider" else "cpu"

    def describe(self, value):
        """numpy arrays and OrtValues."""
        if isinstance(value, self._ort.OrtValue):
            return tuple(value.shape()), ORT_DTYPES.get(value.data_type(), value.data_type())
        return super().describe(value)

    def _run(self, feed: dict, host) -> dict:
        binding = self._session.io_binding()
        for name, value in feed.items():
            if isinstance(value, np.ndarray):
                binding.bind_cpu_input(name, np.ascontiguousarray(value))
            else:
                binding.bind_ortvalue_input(name, value)
        for name in self.spec.output_names:
            binding.bind_output(name, self._device)
        self._session.run_with_iobinding(binding)
        outputs = dict(zip(self.spec.output_names, binding.get_outputs()))
        return {name: value.numpy() if name in host else value for name, value in outputs.items()}

    def close(self) -> None:
        self._session = None
