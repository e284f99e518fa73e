"""TensorRT backend: one engine per graph (from `ttsx build-engine`), run on a non-default CUDA stream.

Device memory and streams come from torch (already a dependency; no second CUDA binding). All
sessions of a pipeline share one stream, so device tensors passed between stages are ordered;
work on the caller's current stream is ordered against it on entry and exit of every run.
Prefill, fine and codec runs bind fresh device tensors; decode runs keep the KV cache on the
GPU in ping-pong buffers and replay CUDA graphs (runtimes/tensorrt_decode.py). Nothing here is
imported unless the tensorrt backend is asked for; TensorRT itself is imported by EngineSet.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.artifact import Artifact
from ttsx.engines import (check_compatible, check_source, default_engines_dir, engine_bytes, gpu_identity,
                          import_tensorrt, read_engine_manifest)
from ttsx.errors import FeedError, TtsxError
from ttsx.recipes.spec import GraphSpec

from .session import StageSession
from .tensorrt_decode import DecodeSteps


class EngineSet:
    """A verified engine directory for one artifact on this machine; owns the runtime and the stream."""

    def __init__(self, artifact: Artifact, engines: str | Path | None = None):
        import torch

        self.root = Path(engines) if engines else default_engines_dir(artifact.root)
        self.manifest = read_engine_manifest(self.root, artifact.root)
        check_source(self.manifest, artifact, self.root)
        self.trt = import_tensorrt()
        check_compatible(self.manifest, self.trt.__version__, gpu_identity(), self.root)
        self.recipe, self.precision = artifact.recipe, self.manifest["precision"]
        self.logger = self.trt.Logger(self.trt.Logger.WARNING)  # must outlive the runtime
        self.runtime = self.trt.Runtime(self.logger)
        self.stream = torch.cuda.Stream()  # one stream for all stages: their tensors are ordered on it

    def session(self, graph: str, cuda_graphs: bool = True) -> "TensorrtSession":
        """A stage session over graph's engine (decode steps replayed as CUDA graphs unless disabled)."""
        if graph not in self.manifest["engines"]:
            raise TtsxError(f"{self.root} has no engine for graph {graph!r}; rebuild with `ttsx build-engine`")
        entry = self.manifest["engines"][graph]
        engine = self.runtime.deserialize_cuda_engine(engine_bytes(self.root, self.manifest, graph))
        if engine is None:
            raise TtsxError(f"TensorRT could not deserialize {self.root / entry['file']}; rebuild the engines")
        return TensorrtSession(engine, self.recipe.graph(graph, self.precision), entry["profile"], self, cuda_graphs)


class TensorrtSession(StageSession):
    """One engine; inputs may be numpy (copied to the GPU) or CUDA tensors a previous run returned."""

    backend = "tensorrt"

    def __init__(self, engine, spec: GraphSpec, profile: dict, engines: EngineSet, cuda_graphs: bool):
        import torch

        super().__init__(spec)
        self._torch, self._trt, self._engine, self._stream = torch, engines.trt, engine, engines.stream
        self.profile = profile  # input name -> {"min", "opt", "max"} shapes
        self._check_io()
        self._context = self.new_context()
        aliases = {o: engine.get_aliased_input_tensor(o) for o in spec.output_names}
        self._aliases = {o: i for o, i in aliases.items() if i}  # None or "" when not in place
        self._decode = None
        if spec.cache and not self._aliases:  # concatenating cache: ping-pong buffers
            first = spec.cache[0]
            block = profile[first.past]["max"][first.axis] + 1  # longest present
            self._decode = DecodeSteps(self, block, cuda_graphs)

    def new_context(self, shared_memory=None):
        """An execution context on profile 0; with `shared_memory`, one that uses that scratch buffer."""
        if shared_memory is None:
            context = self._engine.create_execution_context()
        else:
            context = self._engine.create_execution_context(self._trt.ExecutionContextAllocationStrategy.USER_MANAGED)
            if context is not None:
                context.set_device_memory(shared_memory.data_ptr(), shared_memory.numel())
        if context is None:
            raise TtsxError(f"{self.spec.name}: TensorRT could not create an execution context (out of GPU memory?)")
        context.set_optimization_profile_async(0, self._stream.cuda_stream)
        return context

    def scratch_bytes(self) -> int:
        """Device memory one context of this engine needs (profile 0)."""
        return self._engine.device_memory_size_v2

    def _check_io(self) -> None:
        """The engine's I/O names and types are the spec's (an engine from another graph is refused)."""
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        if sorted(inputs) != sorted(self.spec.input_names) or len(names) != len(self.spec.inputs + self.spec.outputs):
            raise TtsxError(f"{self.spec.name}: engine tensors {names} do not match the recipe's; rebuild the engines")
        types = {trt.DataType.FLOAT: "float32", trt.DataType.HALF: "float16", trt.DataType.INT64: "int64",
                 trt.DataType.INT32: "int32", trt.DataType.BOOL: "bool"}
        for t in self.spec.inputs + self.spec.outputs:
            got = types.get(engine.get_tensor_dtype(t.name), str(engine.get_tensor_dtype(t.name)))
            if got != t.dtype:
                raise TtsxError(f"{self.spec.name}: engine tensor {t.name!r} is {got}, the recipe says {t.dtype}; "
                                "rebuild the engines")

    def describe(self, value):
        """numpy arrays and CUDA tensors."""
        if isinstance(value, self._torch.Tensor):
            if not value.is_cuda:
                raise FeedError(f"{self.spec.name}: a CPU torch tensor was fed; pass numpy or a CUDA tensor")
            return tuple(value.shape), str(value.dtype).removeprefix("torch.")
        return super().describe(value)

    def _run(self, feed: dict, host) -> dict:
        self._check_profile(feed)
        caller = self._torch.cuda.current_stream()
        self._stream.wait_stream(caller)  # tensors the caller made on its stream are ready
        with self._torch.cuda.stream(self._stream):
            if self._decode is not None:
                outputs = self._decode.step(feed, host)
            else:
                inputs = {name: self.on_device(value) for name, value in feed.items()}
                outputs = self.execute(self._context, inputs, self._fresh_outputs)
            result = {n: outputs[n].cpu().numpy() if n in host else outputs[n] for n in self.spec.output_names}
        caller.wait_stream(self._stream)  # and ours are ready for the caller
        return result

    def _check_profile(self, feed: dict) -> None:
        """Every input shape must lie inside the engine's profile; outside it TensorRT would fail."""
        for name, value in feed.items():
            shape = tuple(np.shape(value)) if isinstance(value, np.ndarray) else tuple(value.shape)
            low, high = self.profile[name]["min"], self.profile[name]["max"]
            if any(s < lo or s > hi for s, lo, hi in zip(shape, low, high)):
                raise FeedError(f"{self.spec.name}: input {name!r} has shape {shape}, outside the engine's profile "
                                f"{tuple(low)}..{tuple(high)}; rebuild with a larger --max-batch if batch is the axis")

    def on_device(self, value):
        """A CUDA tensor for a numpy array (copied) or a CUDA tensor (as is, made contiguous)."""
        if isinstance(value, np.ndarray):
            return self._torch.from_numpy(np.ascontiguousarray(value)).cuda()
        return value.contiguous()

    def _fresh_outputs(self, context, inputs: dict) -> dict:
        """New device tensors for every output, or the aliased input for an in-place cache."""
        outputs = {}
        for t in self.spec.outputs:
            shape = tuple(context.get_tensor_shape(t.name))
            outputs[t.name] = inputs[self._aliases[t.name]] if t.name in self._aliases else self._torch.empty(
                shape, dtype=getattr(self._torch, t.dtype), device="cuda")
        return outputs

    def execute(self, context, inputs: dict, allocate) -> dict:
        """Bind inputs, allocate outputs with `allocate(context, inputs)`, enqueue on the stream."""
        for name, tensor in inputs.items():
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise FeedError(f"{self.spec.name}: TensorRT refused shape {tuple(tensor.shape)} for {name!r}")
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = allocate(context, inputs)
        for name, tensor in outputs.items():
            context.set_tensor_address(name, tensor.data_ptr())
        if not context.execute_async_v3(self._stream.cuda_stream):
            raise TtsxError(f"{self.spec.name}: TensorRT execute_async_v3 failed (see its log above)")
        return outputs

    @property
    def stream(self):
        """The CUDA stream every run is enqueued on."""
        return self._stream

    def close(self) -> None:
        """Drop graphs, buffers and contexts (the engine goes with its last reference)."""
        self._decode, self._context, self._engine = None, None, None
