"""TensorRT backend: one engine per graph (from `ttsx build-engine`), run on one non-default CUDA stream.

Device memory and streams come from torch (already a dependency; no second CUDA binding). One
EngineSet per (artifact, engine directory) per process owns TensorRT's logger and runtime, the
stream every session enqueues on (device tensors passed between stages are ordered on it), and one
scratch buffer every execution context uses: stages run one after another on that stream, so
they never need scratch at the same time.

Causal graphs update a fixed-capacity cache in place (the engine reports each present output as an
alias of its cache input): `new_cache` hands out device buffers (kept per (batch, capacity), so a
later generation of the same shape gets the same addresses), `attach` binds them, and each step
copies only its small inputs in and the host outputs out. A step of one position per row runs on
the engine's "decode" profile on a context of its own per batch size, captured once as a CUDA graph
and replayed for every later step and generation of that batch (shapes and addresses are fixed);
prefills and other graphs run on one context per profile. Nothing here is imported unless the
tensorrt backend is asked for; TensorRT itself is imported by EngineSet.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.artifact.engines import (BUILDERS, EngineMismatchError, check_compatible, check_source, default_engines_dir,
                                   engine_bytes, gpu_identity, import_tensorrt, read_engine_manifest)
from ttsx.base.errors import FeedError, TtsxError
from ttsx.recipes.spec import GraphSpec

from .session import StageSession, host_array

_SETS: dict[tuple[str, str], "EngineSet"] = {}  # one per (artifact, engine directory) in this process
_LOGGERS: dict = {}  # per TensorRT library: TensorRT warns when runtimes of one process use different loggers


def engine_set(artifact: Artifact, engines: str | Path | None = None) -> "EngineSet":
    """The process's EngineSet for this artifact and engine directory (verified when first opened)."""
    root = Path(engines) if engines else default_engines_dir(artifact.root)
    key = (str(artifact.root.resolve()), str(root.resolve()))
    if key not in _SETS:
        _SETS[key] = EngineSet(artifact, root)
    return _SETS[key]


class EngineSet:
    """A verified engine directory for one artifact on this machine: runtime, stream and shared scratch."""

    def __init__(self, artifact: Artifact, root: Path):
        import torch

        self.root = root
        self.manifest = read_engine_manifest(self.root, artifact.root)
        check_source(self.manifest, artifact, self.root)
        builder = self.manifest["builder"]["name"]  # engines run with the library that built them
        if builder not in BUILDERS:
            raise EngineMismatchError(f"{self.root} was built with {builder!r}, which this ttsx does not know "
                                      f"({', '.join(BUILDERS)}); rebuild with `ttsx build-engine`")
        self.trt = import_tensorrt(builder)
        check_compatible(self.manifest, builder, self.trt.__version__, gpu_identity(), self.root)
        self.recipe, self.precision = artifact.recipe, self.manifest["precision"]
        self.kv_cache = artifact.kv_cache  # the engines are built from the artifact's graphs
        if builder not in _LOGGERS:
            _LOGGERS[builder] = self.trt.Logger(self.trt.Logger.WARNING)  # must outlive every runtime
        self.runtime = self.trt.Runtime(_LOGGERS[builder])
        self.stream = torch.cuda.Stream()  # one stream for all stages: their tensors are ordered on it
        self._torch = torch
        self._scratch = None  # uint8 device buffer every context of every engine runs in
        self._contexts: list = []  # live contexts, re-pointed when the scratch grows
        self._sessions: list["TensorrtSession"] = []  # told to drop CUDA graphs when it does

    def session(self, graph: str, cuda_graphs: bool = True) -> "TensorrtSession":
        """A stage session over graph's engine (decode steps replayed as CUDA graphs unless disabled)."""
        if graph not in self.manifest["engines"]:
            raise TtsxError(f"{self.root} has no engine for graph {graph!r}; rebuild with `ttsx build-engine`")
        entry = self.manifest["engines"][graph]
        engine = self.runtime.deserialize_cuda_engine(engine_bytes(self.root, self.manifest, graph))
        if engine is None:
            raise TtsxError(f"TensorRT could not deserialize {self.root / entry['file']}; rebuild the engines")
        session = TensorrtSession(engine, self.recipe.graph_spec(graph, self.precision, self.kv_cache), entry["profiles"], self,
                                  cuda_graphs)
        self._sessions.append(session)
        return session

    def context(self, engine, profile: int):
        """An execution context of `engine` on optimization profile `profile`, running in the shared scratch."""
        trt = self.trt
        self._reserve(engine.device_memory_size_v2)
        context = engine.create_execution_context(trt.ExecutionContextAllocationStrategy.USER_MANAGED)
        if context is None:
            raise TtsxError("TensorRT could not create an execution context (out of GPU memory?)")
        context.set_device_memory(self._scratch.data_ptr(), self._scratch.numel())
        context.set_optimization_profile_async(profile, self.stream.cuda_stream)
        self._contexts.append(context)
        return context

    def release(self, session: "TensorrtSession", contexts: list) -> None:
        """Forget a closed session and its contexts."""
        self._sessions = [s for s in self._sessions if s is not session]
        self._contexts = [c for c in self._contexts if all(c is not d for d in contexts)]

    def _reserve(self, size: int) -> None:
        """Grow the shared scratch to `size` bytes; every live context moves to the new buffer."""
        if self._scratch is not None and self._scratch.numel() >= size:
            return
        self.stream.synchronize()  # nothing enqueued may still use the old buffer
        self._scratch = self._torch.empty(max(size, 1), dtype=self._torch.uint8, device="cuda")
        for context in self._contexts:
            context.set_device_memory(self._scratch.data_ptr(), self._scratch.numel())
        for session in self._sessions:
            session.drop_graphs()  # they captured the old scratch address


class TensorrtSession(StageSession):
    """One engine; inputs may be numpy (copied to the GPU) or CUDA tensors a previous run returned."""

    backend = "tensorrt"
    pooled_caches = True  # new_cache: one device pool per (batch, capacity)

    def __init__(self, engine, spec: GraphSpec, profiles: list[dict], engines: EngineSet, cuda_graphs: bool):
        import torch

        super().__init__(spec)
        self._torch, self._trt, self._engine, self._set = torch, engines.trt, engine, engines
        self._stream = engines.stream
        self.profiles = profiles  # [{"phase", "shapes": {input: {"min", "opt", "max"}}}] in profile-index order
        self._check_io()
        self._contexts: dict[int, object] = {}  # profile index -> context for uncaptured runs
        self._cuda_graphs = cuda_graphs
        self._steps: dict[int, CapturedStep] = {}  # batch -> the decode step captured for it
        self._pool: dict[tuple[int, int], dict] = {}  # (batch, capacity) -> cache buffers
        self._host: dict[tuple[str, tuple], object] = {}  # (output, shape) -> pinned host buffer

    # -- caches ------------------------------------------------------------------------------
    def new_cache(self, batch: int, capacity: int) -> dict:
        """Zeroed device buffers; the same ones for every request of this (batch, capacity)."""
        key = (batch, capacity)
        if key not in self._pool:
            self._pool[key] = {name: self._torch.empty(shape, dtype=getattr(self._torch, dtype), device="cuda")
                               for name, (shape, dtype) in self.cache_shapes(batch, capacity).items()}
        with self._torch.cuda.stream(self._stream):
            for buffer in self._pool[key].values():
                buffer.zero_()
        return self._pool[key]

    def attach(self, caches: dict) -> None:
        """Bind the caches; any other attached input given as numpy is copied to the device once, here."""
        super().attach({name: self.on_device(v) if isinstance(v, np.ndarray) else v for name, v in caches.items()})

    def drop_graphs(self) -> None:
        """Forget captured steps (their addresses are stale); the next step of each batch captures again."""
        self._steps = {}

    # -- checks ------------------------------------------------------------------------------
    def _check_io(self) -> None:
        """The engine's I/O names and types are the spec's, and its cache outputs alias its cache inputs."""
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
        wrong = [p.present for p in self.spec.cache if engine.get_aliased_input_tensor(p.present) != p.past]
        if wrong:
            raise TtsxError(f"{self.spec.name}: the engine does not update its cache in place ({wrong[0]!r} is not an "
                            "alias of its cache input); rebuild from an artifact exported with --kv-cache tensorrt")
        if len(self.profiles) != engine.num_optimization_profiles:
            raise TtsxError(f"{self.spec.name}: the engine has {engine.num_optimization_profiles} profiles, its "
                            f"manifest lists {len(self.profiles)}; rebuild the engines")

    def describe(self, value):
        """numpy arrays and CUDA tensors."""
        if isinstance(value, self._torch.Tensor):
            if not value.is_cuda:
                raise FeedError(f"{self.spec.name}: a CPU torch tensor was fed; pass numpy or a CUDA tensor")
            return tuple(value.shape), str(value.dtype).removeprefix("torch.")
        return super().describe(value)

    # -- running -----------------------------------------------------------------------------
    def _run(self, feed: dict, host) -> dict:
        shapes = {name: tuple(self.describe(value)[0]) for name, value in feed.items()}
        profile = choose_profile(self.spec, self.profiles, shapes)
        caller = self._torch.cuda.current_stream()
        self._stream.wait_stream(caller)  # tensors the caller made on its stream are ready
        with self._torch.cuda.stream(self._stream):
            if self.attached and self._cuda_graphs and self.profiles[profile]["phase"] == "decode":
                outputs = self._captured(feed, profile)
            else:
                inputs = {name: self.on_device(value) for name, value in feed.items()}
                outputs = self.execute(self._context(profile), inputs)
            result = {n: outputs[n] for n in self.spec.output_names if not (self.attached and n not in host)}
            result = {n: self._to_host(n, v) if n in host else v for n, v in result.items()}
        caller.wait_stream(self._stream)  # and ours are ready for the caller
        return result

    def _captured(self, feed: dict, profile: int) -> dict:
        """A decode step through this batch's CUDA graph (captured on its first step)."""
        batch = len(feed[self.spec.lengths.new])
        caches = dict(self.attached)  # the caches and any input bound for the generation: fixed addresses
        step = self._steps.get(batch)
        if step is None or not step.serves(caches):
            step = CapturedStep(self, feed, caches, profile)
            if step.graph is None:  # capture failed: this session runs uncaptured from now on
                self._cuda_graphs = False
                return step.outputs
            self._steps[batch] = step
            return step.outputs  # the capture's own run computed this step
        step.replay(feed)
        return step.outputs

    def _context(self, profile: int):
        if profile not in self._contexts:
            self._contexts[profile] = self._set.context(self._engine, profile)
        return self._contexts[profile]

    def on_device(self, value):
        """A CUDA tensor for a numpy array (copied, rank kept) or a CUDA tensor (as is, made contiguous)."""
        if isinstance(value, np.ndarray):
            return self._torch.from_numpy(host_array(value)).to("cuda", non_blocking=False)
        return value.contiguous()

    def _to_host(self, name: str, tensor):
        """The output as numpy, through a pinned buffer kept per (output, shape) (read it before the next run)."""
        key = (name, tuple(tensor.shape))
        if key not in self._host:
            self._host[key] = self._torch.empty(key[1], dtype=tensor.dtype, pin_memory=True)
        buffer = self._host[key]
        buffer.copy_(tensor, non_blocking=True)
        self._stream.synchronize()
        return buffer.numpy()

    def execute(self, context, inputs: dict) -> dict:
        """Bind inputs, allocate (or alias) outputs, enqueue on the stream; the outputs."""
        for name, tensor in inputs.items():
            if not context.set_input_shape(name, tuple(tensor.shape)):
                raise FeedError(f"{self.spec.name}: TensorRT refused shape {tuple(tensor.shape)} for {name!r}")
            context.set_tensor_address(name, tensor.data_ptr())
        outputs = self._outputs(context, inputs)
        for name, tensor in outputs.items():
            context.set_tensor_address(name, tensor.data_ptr())
        if not context.execute_async_v3(self._stream.cuda_stream):
            raise TtsxError(f"{self.spec.name}: TensorRT execute_async_v3 failed (see its log above)")
        return outputs

    def _outputs(self, context, inputs: dict) -> dict:
        """New device tensors for the outputs; a cache output is its cache input (the engine aliases them)."""
        caches = {p.present: p.past for p in self.spec.cache}
        outputs = {}
        for t in self.spec.outputs:
            if t.name in caches:
                outputs[t.name] = inputs[caches[t.name]]
            else:
                shape = tuple(context.get_tensor_shape(t.name))
                outputs[t.name] = self._torch.empty(shape, dtype=getattr(self._torch, t.dtype), device="cuda")
        return outputs

    @property
    def stream(self):
        """The CUDA stream every run is enqueued on."""
        return self._stream

    def close(self) -> None:
        """Drop graphs, buffers and contexts (the engine goes with its last reference)."""
        self.detach()
        contexts = list(self._contexts.values()) + [s.context for s in self._steps.values()]
        self._set.release(self, contexts)
        self._steps, self._contexts, self._pool, self._engine = {}, {}, {}, None


def choose_profile(spec: GraphSpec, profiles: list[dict], shapes: dict[str, tuple[int, ...]]) -> int:
    """Index of the narrowest profile that admits every input shape; a FeedError naming the axis otherwise."""
    fitting = []
    for index, profile in enumerate(profiles):
        ranges = profile["shapes"]
        if all(all(lo <= s <= hi for s, lo, hi in zip(shape, ranges[n]["min"], ranges[n]["max"]))
               for n, shape in shapes.items()):
            width = sum(hi - lo for n in shapes for lo, hi in zip(ranges[n]["min"], ranges[n]["max"]))
            fitting.append((width, index))
    if fitting:
        return min(fitting)[1]
    raise FeedError(_outside(spec, profiles, shapes))


def _outside(spec: GraphSpec, profiles: list[dict], shapes: dict) -> str:
    """Which axis of which input lies outside every profile, and what to do about it."""
    for t in spec.inputs:
        for i, (size, dim) in enumerate(zip(shapes[t.name], t.shape)):
            low = min(p["shapes"][t.name]["min"][i] for p in profiles)
            high = max(p["shapes"][t.name]["max"][i] for p in profiles)
            if not low <= size <= high:
                fix = (f"rebuild the engines with --max-batch {size}" if dim == "batch" else
                       f"the recipe's range for {dim!r} sets it; shorten the input")
                return f"{spec.name}: axis {dim!r} of input {t.name!r} is {size}; the engine accepts {low}..{high} ({fix})"
    return f"{spec.name}: input shapes {shapes} fit no single profile of the engine"


class CapturedStep:
    """One batch size's decode step: fixed input buffers, its own context, a CUDA graph of its enqueue.

    The step's shapes never change (one position per row, the static cache), so one capture serves
    every later step and every later generation whose caches are the same buffers (new_cache's pool).
    """

    def __init__(self, session: TensorrtSession, feed: dict, caches: dict, profile: int):
        torch = session._torch
        self.session, self.caches = session, {n: c.data_ptr() for n, c in caches.items()}
        self.inputs = {n: torch.empty(np.shape(v), dtype=getattr(torch, str(v.dtype)), device="cuda")
                       for n, v in feed.items() if n not in caches}
        self._copy_in(feed)
        self.context = session._set.context(session._engine, profile)
        self.outputs = session.execute(self.context, {**self.inputs, **caches})  # the real result, and a warm-up
        self.graph = self._capture()

    def serves(self, caches: dict) -> bool:
        """Whether the graph was captured on these cache buffers."""
        return all(self.caches[n] == c.data_ptr() for n, c in caches.items())

    def replay(self, feed: dict) -> None:
        """Copy the step's inputs into the captured buffers and replay."""
        self._copy_in(feed)
        self.graph.replay()

    def _copy_in(self, feed: dict) -> None:
        torch = self.session._torch
        for name, buffer in self.inputs.items():
            value = feed[name]
            buffer.copy_(torch.from_numpy(host_array(value)) if isinstance(value, np.ndarray) else value)

    def _capture(self):
        """A CUDA graph of the context's enqueue (shapes and addresses as just run), or None if capture fails."""
        session = self.session
        graph = session._torch.cuda.CUDAGraph()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch only warns when a capture comes out empty
                graph.capture_begin()  # on the current stream: the session's (never the default stream)
                try:
                    enqueued = self.context.execute_async_v3(session.stream.cuda_stream)
                finally:
                    graph.capture_end()
            if not enqueued:
                raise RuntimeError("execute_async_v3 returned False while capturing")
        except (RuntimeError, UserWarning) as exc:
            warnings.warn(f"{session.spec.name}: CUDA graph capture failed ({exc}); decode steps run uncaptured")
            return None
        return graph
