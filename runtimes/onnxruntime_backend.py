"""onnxruntime backend: CPU by default, CUDA when onnxruntime-gpu is installed; IO binding throughout."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.base.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from .session import StageSession, host_array

DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
ORT_DTYPES = {"tensor(float)": "float32", "tensor(int64)": "int64", "tensor(float16)": "float16",
              "tensor(int32)": "int32", "tensor(bool)": "bool"}


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    import onnxruntime

    return onnxruntime.get_available_providers()


class OnnxruntimeSession(StageSession):
    """One ONNX graph in an onnxruntime InferenceSession, run through IO binding.

    Outputs not asked for on the host stay OrtValues where the session computed them (CPU memory
    or the GPU). Attached caches are bound once, as the cache inputs and as the present outputs
    (one OrtValue each: the graph updates it in place); each step then binds only its small inputs,
    and the host outputs land in preallocated arrays (no copy, no per-step objects per layer).
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
        # take the cores from the next one (docs/BENCHMARKS.md, "sessions that stop spinning": a 60-token pass
        # over four sessions 4.47 s -> 2.69 s). One process-wide pool measured the same, but then every other
        # onnxruntime session in the process must use it too (onnxruntime refuses per-session pools once a
        # global one exists).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._ort = onnxruntime
        self._session = onnxruntime.InferenceSession(str(path), options, providers=list(providers))
        self._device = "cuda" if providers[0] == "CUDAExecutionProvider" else "cpu"
        self.copies_cache_rows = self._device == "cpu"  # through the numpy arrays under the cache OrtValues
        self._binding = None  # kept while caches are attached
        self._host_arrays: dict = {}  # host output name -> preallocated array bound as that output

    def describe(self, value):
        """numpy arrays and OrtValues."""
        if isinstance(value, self._ort.OrtValue):
            return tuple(value.shape()), ORT_DTYPES.get(value.data_type(), value.data_type())
        return super().describe(value)

    def new_cache(self, batch: int, capacity: int) -> dict:
        """Zeroed OrtValues on the session's device."""
        caches = {}
        for name, (shape, dtype) in self.cache_shapes(batch, capacity).items():
            value = self._ort.OrtValue.ortvalue_from_numpy(np.zeros(shape, dtype), self._device)
            caches[name] = value
        return caches

    def copy_cache_row(self, dst: dict, row: int, src: dict, src_row: int, positions: int) -> None:
        """On the CPU: through the numpy arrays the cache OrtValues were made over (new_cache)."""
        for pair in self.spec.cache:
            to, frm = getattr(dst[pair.past], "_numpy_obj", None), getattr(src[pair.past], "_numpy_obj", None)
            if self._device != "cpu" or to is None or frm is None:
                super().copy_cache_row(dst, row, src, src_row, positions)
            to[row, :, :positions] = frm[src_row, :, :positions]

    def attach(self, caches: dict) -> None:
        """Bind each cache OrtValue as its input and as its present output, and any other attached input, once."""
        super().attach(caches)
        self._binding = self._session.io_binding()
        for name, value in caches.items():
            self._bind_input(self._binding, name, value)
        for pair in self.spec.cache:
            self._binding.bind_ortvalue_output(pair.present, caches[pair.past])
        self._host_arrays = {}

    def detach(self) -> None:
        """Forget the binding and the caches."""
        super().detach()
        self._binding, self._host_arrays = None, {}

    def _run(self, feed: dict, host) -> dict:
        if self._binding is not None:
            return self._run_attached(feed)
        binding = self._session.io_binding()
        for name, value in feed.items():
            self._bind_input(binding, name, value)
        for name in self.spec.output_names:
            binding.bind_output(name, self._device)
        self._session.run_with_iobinding(binding)
        outputs = dict(zip(self.spec.output_names, binding.get_outputs()))
        return {name: value.numpy() if name in host else value for name, value in outputs.items()}

    def _run_attached(self, feed: dict) -> dict:
        """A step on attached caches: bind the small inputs and the host outputs, run; caches update in place."""
        binding = self._binding
        for name, value in feed.items():
            if name not in self.attached:
                self._bind_input(binding, name, value)
        batch = len(feed[self.spec.lengths.new])
        for name in self.host_outputs:
            array = self._host_arrays.get(name)
            if array is None or array.shape[0] != batch:
                array = self._host_arrays[name] = np.empty(self._host_shape(name, batch), np.float32)
                binding.bind_ortvalue_output(name, self._ort.OrtValue.ortvalue_from_numpy(array))
        self._session.run_with_iobinding(binding)
        return {name: self._host_arrays[name] for name in self.host_outputs}

    def _host_shape(self, name: str, batch: int) -> tuple[int, ...]:
        spec = next(t for t in self.spec.outputs if t.name == name)
        if spec.dtype != "float32" or any(isinstance(d, str) and d != "batch" for d in spec.shape):
            raise TtsxError(f"{self.spec.name}: output {name!r} {spec.shape} can't be preallocated per step")
        return tuple(batch if d == "batch" else d for d in spec.shape)

    @staticmethod
    def _bind_input(binding, name: str, value) -> None:
        if isinstance(value, np.ndarray):
            binding.bind_cpu_input(name, host_array(value))
        else:
            binding.bind_ortvalue_input(name, value)

    def close(self) -> None:
        self.detach()
        self._session = None
