"""`ttsx build-engine`: one TensorRT 11 engine per graph of an artifact, plus an engine manifest.

TensorRT 11 networks are strongly typed: an engine computes in the types its ONNX graph has (fp16
from an fp16 graph, int8 from explicit Q/DQ nodes); there is no builder flag that lowers precision.
So the precision is chosen by which ONNX graphs are built: an artifact of that precision, or, for
an fp32 artifact and `--precision fp16|int8`, graphs `ttsx quantize` makes on the way (int8 is
the int8-qdq flavour; onnxruntime's dynamic int8 is refused by the readiness check).

Each graph gets its own engine. A causal graph serves the prefill and every decode step over a
fixed-capacity cache it updates in place (TensorScatter; the engine reports each present output as
an alias of its cache input), so its engine has two optimization profiles, one per phase: "prefill"
(the recipe's range of positions) and "decode" (one position), which NVIDIA's guidance prefers over
one wide profile. Other graphs have one profile ("all"). The manifest lists each
profile's min/opt/max per input, in profile-index order.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ttsx import __version__
from ttsx.base.progress import Progress
from ttsx.recipes.precision import ENGINE_PRECISIONS
from ttsx.artifact.manifest import MANIFEST, Artifact, load_artifact, sha256_file
from ttsx.artifact.engines import ENGINE_FORMAT, ENGINE_FORMAT_VERSION, default_engines_dir, gpu_identity, import_tensorrt
from ttsx.base.errors import TtsxError
from ttsx.recipes.spec import GraphSpec

from .tensorrt_check import check_graph
from .writer import ArtifactWriter

Shape = tuple[int, ...]
TIMING_CACHE = "timing.cache"
MIB = 1 << 20
MAX_LISTED = 12  # readiness problems printed before "... and N more"


@dataclass(frozen=True)
class BuildOptions:
    """What `ttsx build-engine` was asked to do."""

    artifact: Path  # ONNX artifact (from `ttsx export` or `ttsx quantize`)
    out: Path | None = None  # engine directory; None: ARTIFACT/engines
    precision: str | None = None  # fp32 | fp16 | int8; None: the artifact's own
    max_batch: int = 8  # largest batch the profiles accept
    timing_cache: Path | None = None  # shared timing cache file, read and updated; None: OUT/timing.cache
    workspace_mib: int | None = None  # builder workspace limit; None: TensorRT's default (all GPU memory)
    force: bool = False  # replace an existing engine directory


def input_profiles(spec: GraphSpec, ranges: dict[str, tuple[int, int, int]]) -> dict[str, tuple[Shape, Shape, Shape]]:
    """(min, opt, max) shape per input: static dims as they are, symbolic ones from `ranges`."""
    profiles = {}
    for tensor in spec.inputs:
        missing = [d for d in tensor.shape if isinstance(d, str) and d not in ranges]
        if missing:
            raise TtsxError(f"{spec.name}: input {tensor.name!r} has axes {missing} with no profile range "
                            "in the recipe (its axis_ranges)")
        profiles[tensor.name] = tuple(tuple(ranges[d][i] if isinstance(d, str) else d for d in tensor.shape)
                                      for i in range(3))
    return profiles


def phase_profiles(spec: GraphSpec, ranges: dict[str, tuple[int, int, int]]
                   ) -> list[tuple[str, dict[str, tuple[Shape, Shape, Shape]]]]:
    """(phase, input profiles) per optimization profile, in index order: prefill and decode for a graph
    with an in-place cache (decode: one position per row), one "all" profile otherwise."""
    if spec.positions_input is None:
        return [("all", input_profiles(spec, ranges))]
    axis = next(t for t in spec.inputs if t.name == spec.positions_input).shape[1]
    if not isinstance(axis, str):
        raise TtsxError(f"{spec.name}: input {spec.positions_input!r} has a static positions axis; a causal graph "
                        "needs a symbolic one")
    return [("prefill", input_profiles(spec, ranges)), ("decode", input_profiles(spec, {**ranges, axis: (1, 1, 1)}))]


def engine_precision(artifact: Artifact, requested: str | None) -> str:
    """The artifact precision the engines are built from; refuses what TensorRT 11 can't take."""
    if requested is not None and requested not in ENGINE_PRECISIONS:
        raise TtsxError(f"unknown engine precision {requested!r}; choose {', '.join(ENGINE_PRECISIONS)}")
    want = ENGINE_PRECISIONS[requested] if requested else artifact.precision
    if want != artifact.precision and artifact.precision != "fp32":
        raise TtsxError(f"{artifact.root} is an artifact of precision {artifact.precision}, not {want}; "
                        "build from the fp32 artifact (it is converted on the way) or drop --precision")
    return want


def refuse_unready(artifact: Artifact) -> None:
    """Run the TensorRT-readiness check on every graph; any problem stops the build."""
    problems = [p for name in artifact.graph_names for p in check_graph(artifact.graph_path(name), name)]
    if problems:
        listing = "\n  ".join(str(p) for p in problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        hint = ("\nThese are onnxruntime's dynamic int8 graphs (CPU only); for a TensorRT int8 engine build from the "
                "fp32 artifact with --precision int8 (explicit Q/DQ).") if artifact.precision == "int8" else ""
        if artifact.kv_cache != "tensorrt":
            hint += ("\nIts causal graphs update their KV cache with onnxruntime's GroupQueryAttention; re-export for "
                     "TensorRT with `ttsx export --recipe ... --kv-cache tensorrt` (TensorScatter, static capacity).")
        raise TtsxError(f"{artifact.root} is not TensorRT-ready ({len(problems)} problems); nothing was built:"
                        f"\n  {listing}{more}{hint}")


def build_engines(options: BuildOptions, progress: Progress = lambda m: None) -> Path:
    """Build every graph's engine into the engine directory; returns it."""
    artifact = load_artifact(options.artifact)
    precision = engine_precision(artifact, options.precision)
    if precision == artifact.precision:
        refuse_unready(artifact)  # before TensorRT is even imported: this check runs anywhere
    trt = import_tensorrt()
    gpu = gpu_identity()
    out = Path(options.out) if options.out else default_engines_dir(artifact.root)
    with tempfile.TemporaryDirectory(prefix="ttsx-build-") as scratch:
        onnx = _onnx_at(artifact, precision, Path(scratch), progress)
        return _build_all(trt, onnx, artifact, options, out, gpu, progress)


def _onnx_at(artifact: Artifact, precision: str, scratch: Path, progress: Progress) -> Artifact:
    """The artifact itself, or the graphs `ttsx quantize` makes from it at `precision` (checked ready)."""
    if precision == artifact.precision:
        return artifact
    from .quantize import QuantizeOptions, quantize_artifact

    progress(f"converting {artifact.root} to {precision} for TensorRT")
    converted = load_artifact(quantize_artifact(QuantizeOptions(artifact.root, precision, scratch / precision),
                                                progress))
    refuse_unready(converted)
    return converted


def _build_all(trt, onnx: Artifact, source: Artifact, options: BuildOptions, out: Path, gpu: dict,
               progress: Progress) -> Path:
    cache_file = options.timing_cache or out / TIMING_CACHE
    cached = cache_file.read_bytes() if cache_file.is_file() else b""
    progress(f"timing cache: {'reusing ' + str(cache_file) if cached else 'new'}")
    with ArtifactWriter(out, options.force) as writer:
        engines = {}
        builder = EngineFromOnnx(trt, cached, options.workspace_mib, progress, exact_fp32=onnx.precision == "fp32")
        for i, name in enumerate(onnx.graph_names, 1):
            spec = onnx.graph_spec(name)
            phases = phase_profiles(spec, onnx.recipe.axis_ranges(name, options.max_batch))
            progress(f"[{i}/{len(onnx.graph_names)}] {name}: building ({', '.join(p for p, _ in phases)})")
            start = time.perf_counter()
            dynamic = {t.name for t in spec.inputs if any(isinstance(d, str) for d in t.shape)}
            engine = builder.build(onnx.graph_path(name), [{k: v for k, v in profile.items() if k in dynamic}
                                                           for _, profile in phases], spec)
            (writer.root / f"{name}.engine").write_bytes(engine)
            seconds = time.perf_counter() - start
            progress(f"[{i}/{len(onnx.graph_names)}] {name}: built in {seconds:.1f} s")
            engines[name] = {"file": f"{name}.engine", "build_seconds": round(seconds, 1),
                             "profiles": [{"phase": phase, "shapes": {k: {"min": v[0], "opt": v[1], "max": v[2]}
                                                                      for k, v in profile.items()}}
                                          for phase, profile in phases]}
        cache = builder.serialized_cache()
        (writer.root / TIMING_CACHE).write_bytes(cache)
        if options.timing_cache:
            options.timing_cache.write_bytes(cache)
        return writer.commit(_manifest(trt, onnx, source, options, gpu, engines))


def _manifest(trt, onnx: Artifact, source: Artifact, options: BuildOptions, gpu: dict, engines: dict) -> dict:
    derived = onnx.root != source.root
    return {
        "format": ENGINE_FORMAT, "format_version": ENGINE_FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ttsx": __version__, "recipe": onnx.recipe.name, "precision": onnx.precision,
        "max_batch": options.max_batch,
        "tensorrt": {"version": trt.__version__, **gpu},
        "source": {"path": str(source.root.absolute()),
                   "manifest_sha256": sha256_file(onnx.root / MANIFEST),
                   "derived_from_sha256": sha256_file(source.root / MANIFEST) if derived else None,
                   "converted_with": f"ttsx quantize --precision {onnx.precision}" if derived else None},
        "engines": engines,
    }


class EngineFromOnnx:
    """TensorRT 11 builder for one ONNX graph at a time: strongly typed, a profile per phase, shared timing cache."""

    def __init__(self, trt, timing_cache: bytes, workspace_mib: int | None, progress: Progress,
                 exact_fp32: bool = False):
        self.trt = trt
        self.exact_fp32 = exact_fp32  # no TF32 math: fp32 engines are held to the fp32 parity tolerance
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.builder = trt.Builder(self.logger)
        config = self.builder.create_builder_config()
        self.cache = config.create_timing_cache(timing_cache) or config.create_timing_cache(b"")  # stale: start over
        self.workspace_mib = workspace_mib
        self.monitor = _progress_monitor(trt, progress)
        self.progress = progress

    def build(self, onnx_path: Path, profiles: list[dict[str, tuple[Shape, Shape, Shape]]], spec: GraphSpec) -> bytes:
        """A serialized engine for the graph at onnx_path, one optimization profile per entry of `profiles`."""
        trt = self.trt
        network = self.builder.create_network(0)  # TensorRT 11 networks are always strongly typed (the flag is gone)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise TtsxError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors}. The readiness check missed "
                            "this: please report it with the graph")
        config = self.builder.create_builder_config()
        if not config.set_timing_cache(self.cache, False):  # a cache from another GPU or TensorRT: start afresh
            self.progress("warning: the timing cache was made on another GPU or TensorRT; starting a new one "
                          "(this build takes longer)")
            self.cache = config.create_timing_cache(b"")
            if not config.set_timing_cache(self.cache, False):
                raise TtsxError("TensorRT refused a new, empty timing cache; rebuild without --timing-cache")
        config.progress_monitor = self.monitor
        if self.exact_fp32 and hasattr(trt.BuilderFlag, "TF32"):  # TF32 is on by default for fp32 layers
            config.clear_flag(trt.BuilderFlag.TF32)
        if self.workspace_mib:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, self.workspace_mib * MIB)
        for profile in profiles:
            shapes = self.builder.create_optimization_profile()
            for name, (low, opt, high) in profile.items():
                shapes.set_shape(name, low, opt, high)
            if config.add_optimization_profile(shapes) < 0:
                raise TtsxError(f"TensorRT refused the optimization profile of {onnx_path.name}: {profile}")
        engine = self.builder.build_serialized_network(network, config)
        if engine is None:
            raise TtsxError(f"TensorRT failed to build {onnx_path.name} (its log above says why); try a smaller "
                            "--max-batch or a larger --workspace-mib")
        self._check_aliasing(engine, spec, onnx_path)
        return bytes(engine)

    def _check_aliasing(self, serialized, spec: GraphSpec, onnx_path: Path) -> None:
        """An engine whose cache outputs are not aliases of its cache inputs would copy (or lose) the cache."""
        if not spec.cache:
            return
        engine = self.trt.Runtime(self.logger).deserialize_cuda_engine(serialized)
        wrong = [(p.present, engine.get_aliased_input_tensor(p.present)) for p in spec.cache
                 if engine.get_aliased_input_tensor(p.present) != p.past]
        if wrong:
            raise TtsxError(f"{onnx_path.name}: TensorRT did not make the cache outputs aliases of the cache inputs "
                            f"({wrong[:2]}...); the in-place KV update needs TensorRT >= 10.15 and a graph exported "
                            "with --kv-cache tensorrt")

    def serialized_cache(self) -> bytes:
        """The timing cache with every kernel timed so far."""
        return bytes(self.cache.serialize())


def _progress_monitor(trt, progress: Progress):
    """A trt.IProgressMonitor that reports top-level build phases through `progress`."""

    class PhaseReporter(trt.IProgressMonitor):
        def __init__(self):
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name, parent_phase, num_steps):
            if parent_phase is None:
                progress(f"  {phase_name} ({num_steps} steps)")

        def step_complete(self, phase_name, step):
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            pass

    return PhaseReporter()
