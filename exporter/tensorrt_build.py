"""`ttsx build-engine`: one TensorRT engine per graph of an artifact, plus an engine manifest.

Two builders (ttsx/artifact/engines.BUILDERS), one code path: TensorRT 11 builds on and for the GPU it
runs on; TensorRT for RTX builds ahead of time without a GPU, for a list of compute capabilities (its
default, or --compute-capability). Both take strongly typed networks only: an engine computes in the
types its ONNX graph has (fp16 from an fp16 graph, int8 from explicit Q/DQ nodes); there is no
builder flag that lowers precision.
So the precision is chosen by which ONNX graphs are built: an artifact of that precision, or, for
an fp32 artifact and `--precision fp16|int8`, graphs `ttsx quantize` makes on the way (int8 is
the int8-qdq flavour; onnxruntime's dynamic int8 is refused by the readiness check).

Each graph gets its own engine. A causal graph serves the prefill and every decode step over a
fixed-capacity cache it updates in place (TensorScatter; the engine reports each present output as
an alias of its cache input), so its engine has two optimization profiles, one per phase: "prefill"
(the recipe's range of positions) and "decode" (one position), which NVIDIA's guidance prefers over
one wide profile. Other graphs have one profile ("all"). The manifest lists each
profile's min/opt/max per input, in profile-index order.

What can be checked without a GPU is checked at build time on the parsed network (network_report):
each present output is made by a KV-cache update layer over its own cache input (so the engine
aliases them), the profile count, layer counts and the precision of every GEMM. Where a GPU the
engines run on is visible, the deserialized engine's aliases and profiles are checked too.
"""
from __future__ import annotations

import resource
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ttsx import __version__
from ttsx.base.progress import Progress
from ttsx.recipes.precision import ENGINE_PRECISIONS
from ttsx.artifact.manifest import MANIFEST, Artifact, load_artifact, sha256_file
from ttsx.artifact.engines import (ENGINE_FORMAT, ENGINE_FORMAT_VERSION, RTX_DEFAULT_TARGETS, RTX_TARGETS, Builder,
                                   choose_builder, default_engines_dir, gpu_identity, runs_on, visible_gpu)
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
    builder: str | None = None  # "tensorrt" | "tensorrt-rtx"; None: TensorRT 11 where usable, else TensorRT for RTX
    compute_capabilities: tuple[str, ...] = ()  # TensorRT for RTX targets ("8.6", ...); (): its default


@dataclass(frozen=True)
class Targets:
    """The GPUs the engines are for, as the manifest records them."""

    compute_capabilities: tuple[str, ...]
    set_by: str  # "builder default" | "--compute-capability" | "the GPU it was built on"
    gpu: dict | None  # the GPU visible at build time (TensorRT 11: the one built for)

    def record(self, builder: Builder, version: str) -> dict:
        """The engine manifest's "builder" entry (what engines.runs_on reads)."""
        return {"name": builder.name, "version": version, "compute_capabilities": list(self.compute_capabilities),
                "targets_set_by": self.set_by, "gpu": self.gpu}


def build_targets(builder: Builder, requested: tuple[str, ...], precision: str) -> Targets:
    """Check --compute-capability against the builder, and say what the engines will target."""
    if builder.name == "tensorrt":
        if requested:
            raise TtsxError("--compute-capability is for --builder tensorrt-rtx; TensorRT 11 builds for the GPU it "
                            "runs on")
        gpu = gpu_identity()
        return Targets((gpu["compute_capability"],), "the GPU it was built on", gpu)
    unknown = [cc for cc in requested if cc not in RTX_TARGETS]
    if unknown:
        raise TtsxError(f"TensorRT for RTX can't target compute capability {', '.join(unknown)}; it takes "
                        f"{', '.join(RTX_TARGETS)} (no Hopper 9.0: build with --builder tensorrt on that GPU)")
    if "7.5" in requested and precision != "fp16":  # int8 engines keep float GEMMs (attention's products)
        raise TtsxError("TensorRT for RTX has no fp32 GEMM on Turing (7.5); build --precision fp16 for 7.5, or leave "
                        "7.5 out")  # Myelin: "Cannot compile operation ... for Turing (SM75): FP32 GEMM is not supported"
    if requested:
        return Targets(tuple(dict.fromkeys(requested)), "--compute-capability", visible_gpu())
    return Targets(RTX_DEFAULT_TARGETS, "builder default", visible_gpu())


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
        cpu = {"int8": "dynamic int8", "int4": "int4 (MatMulNBits) and int8"}.get(artifact.precision)
        hint = (f"\nThese are onnxruntime's {cpu} graphs (CPU only); for a TensorRT int8 engine build from the "
                "fp32 artifact with --precision int8 (explicit Q/DQ).") if cpu else ""
        if artifact.kv_cache != "tensorrt":
            hint += ("\nIts causal graphs update their KV cache with onnxruntime's GroupQueryAttention; re-export for "
                     "TensorRT with `ttsx export --recipe ... --kv-cache tensorrt` (TensorScatter, static capacity).")
        raise TtsxError(f"{artifact.root} is not TensorRT-ready ({len(problems)} problems); nothing was built:"
                        f"\n  {listing}{more}{hint}")


def build_engines(options: BuildOptions, progress: Progress = lambda m: None, capture=None) -> Path:
    """Build every graph's engine into the engine directory; returns it. An fp32 artifact built at int8 is
    quantized first, calibrated on the feeds `capture` records (exporter.quantize.Capture; the CLI passes the
    runtimes' recorder)."""
    artifact = load_artifact(options.artifact)
    precision = engine_precision(artifact, options.precision)
    if precision == artifact.precision:
        refuse_unready(artifact)  # before TensorRT is even imported: this check runs anywhere
    builder, trt = choose_builder(options.builder)
    targets = build_targets(builder, options.compute_capabilities, precision)
    progress(f"builder: {builder.title} {trt.__version__}, for "
             + (f"{targets.gpu['name']}" if builder.name == "tensorrt" else
                f"compute capability {', '.join(targets.compute_capabilities)} ({targets.set_by})"))
    if targets.gpu and not runs_on(targets.record(builder, trt.__version__), targets.gpu):  # TensorRT for RTX only
        progress(f"warning: these engines will not run on this machine's {targets.gpu['name']} "
                 f"(sm {targets.gpu['compute_capability']}); they target compute capability "
                 f"{', '.join(targets.compute_capabilities)} ({targets.set_by})")
    out = Path(options.out) if options.out else default_engines_dir(artifact.root)
    with tempfile.TemporaryDirectory(prefix="ttsx-build-") as scratch:
        onnx = _onnx_at(artifact, precision, Path(scratch), progress, capture)
        return _build_all(trt, builder, targets, onnx, artifact, options, out, progress)


def _onnx_at(artifact: Artifact, precision: str, scratch: Path, progress: Progress, capture=None) -> Artifact:
    """The artifact itself, or the graphs `ttsx quantize` makes from it at `precision` (checked ready)."""
    if precision == artifact.precision:
        return artifact
    from .quantize import QuantizeOptions, quantize_artifact

    progress(f"converting {artifact.root} to {precision} for TensorRT")
    converted = load_artifact(quantize_artifact(QuantizeOptions(artifact.root, precision, scratch / precision),
                                                progress, capture))
    refuse_unready(converted)
    return converted


def _build_all(trt, builder: Builder, targets: Targets, onnx: Artifact, source: Artifact, options: BuildOptions,
               out: Path, progress: Progress) -> Path:
    timed = builder.name == "tensorrt"  # TensorRT for RTX has no timing cache (its kernels compile at load)
    cache_file = options.timing_cache or out / TIMING_CACHE
    cached = cache_file.read_bytes() if timed and cache_file.is_file() else b""
    if timed:
        progress(f"timing cache: {'reusing ' + str(cache_file) if cached else 'new'}")
    elif options.timing_cache:
        progress(f"note: --timing-cache ignored: {builder.title} has no timing cache")
    with ArtifactWriter(out, options.force) as writer:
        engines = {}
        engine_builder = EngineFromOnnx(trt, builder, targets, cached, options.workspace_mib, progress,
                                        exact_fp32=onnx.precision == "fp32")
        for i, name in enumerate(onnx.graph_names, 1):
            spec = onnx.graph_spec(name)
            phases = phase_profiles(spec, onnx.recipe.axis_ranges(name, options.max_batch))
            progress(f"[{i}/{len(onnx.graph_names)}] {name}: building ({', '.join(p for p, _ in phases)})")
            start = time.perf_counter()
            dynamic = {t.name for t in spec.inputs if any(isinstance(d, str) for d in t.shape)}
            engine, report = engine_builder.build(onnx.graph_path(name), [{k: v for k, v in profile.items()
                                                                           if k in dynamic} for _, profile in phases],
                                                  spec)
            (writer.root / f"{name}.engine").write_bytes(engine)
            seconds = time.perf_counter() - start
            progress(f"[{i}/{len(onnx.graph_names)}] {name}: built in {seconds:.1f} s, {len(engine) / MIB:.1f} MiB, "
                     f"{report['layers']} layers, checked on the {report['checked']}")
            engines[name] = {"file": f"{name}.engine", "build_seconds": round(seconds, 1), "bytes": len(engine),
                             **report,
                             "profiles": [{"phase": phase, "shapes": {k: {"min": v[0], "opt": v[1], "max": v[2]}
                                                                      for k, v in profile.items()}}
                                          for phase, profile in phases]}
        if timed:
            cache = engine_builder.serialized_cache()
            (writer.root / TIMING_CACHE).write_bytes(cache)
            if options.timing_cache:
                options.timing_cache.write_bytes(cache)
        return writer.commit(_manifest(trt, builder, targets, onnx, source, options, engines))


def _manifest(trt, builder: Builder, targets: Targets, onnx: Artifact, source: Artifact, options: BuildOptions,
              engines: dict) -> dict:
    derived = onnx.root != source.root
    return {
        "format": ENGINE_FORMAT, "format_version": ENGINE_FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "ttsx": __version__, "recipe": onnx.recipe.name, "precision": onnx.precision,
        "max_batch": options.max_batch,
        "builder": targets.record(builder, trt.__version__),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),  # of the whole command
        "source": {"path": str(source.root.absolute()),
                   "manifest_sha256": sha256_file(onnx.root / MANIFEST),
                   "derived_from_sha256": sha256_file(source.root / MANIFEST) if derived else None,
                   "converted_with": f"ttsx quantize --precision {onnx.precision}" if derived else None},
        "engines": engines,
    }


def network_report(trt, network, spec: GraphSpec, profiles: int) -> dict:
    """What the parsed network says about the engine, checked: every present output made by a KV-cache update
    layer whose cache is its own past input (TensorRT then aliases the two), and layer counts with the precision of
    each GEMM (int8 where an input is dequantized from int8, else its output type). A TtsxError when the cache
    would not be updated in place."""
    producer, gemms, kinds = {}, Counter(), Counter()
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    for layer in layers:
        kinds[layer.type.name] += 1
        for j in range(layer.num_outputs):
            producer[layer.get_output(j).name] = layer
    for layer in layers:
        if layer.type.name in GEMM_LAYERS:
            inputs = [layer.get_input(k) for k in range(layer.num_inputs)]
            dequantized = any(t is not None and t.name in producer and producer[t.name].type.name == "DEQUANTIZE"
                              for t in inputs)
            gemms["INT8" if dequantized else layer.get_output(0).dtype.name] += 1
    wrong = []
    for pair in spec.cache:
        layer = producer.get(pair.present)
        cache = layer.get_input(0).name if layer is not None and layer.num_inputs else None
        if layer is None or layer.type.name != "KV_CACHE_UPDATE" or cache != pair.past:
            wrong.append(f"{pair.present} <- {layer.type.name if layer is not None else 'nothing'}({cache})")
    if wrong:
        raise TtsxError(f"{spec.name}: the cache outputs are not in-place updates of the cache inputs ({', '.join(wrong[:2])}"
                        "...); the in-place KV update needs a graph exported with --kv-cache tensorrt")
    want = 2 if spec.positions_input is not None else 1
    if profiles != want:
        raise TtsxError(f"{spec.name}: {profiles} optimization profiles where {want} were meant; this is a ttsx bug")
    return {"layers": network.num_layers, "gemm_precisions": dict(sorted(gemms.items())),
            "quantize_layers": kinds["QUANTIZE"] + kinds["DEQUANTIZE"],
            "kv_cache_updates": {p.present: p.past for p in spec.cache}, "checked": "network"}


GEMM_LAYERS = {"MATRIX_MULTIPLY", "CONVOLUTION", "DECONVOLUTION"}


class EngineFromOnnx:
    """One builder (TensorRT 11 or TensorRT for RTX) for one ONNX graph at a time: strongly typed, a profile per
    phase, the targets' compute capabilities, TensorRT 11's shared timing cache."""

    def __init__(self, trt, builder: Builder, targets: Targets, timing_cache: bytes, workspace_mib: int | None,
                 progress: Progress, exact_fp32: bool = False):
        self.trt, self.flavour, self.targets = trt, builder, targets
        self.exact_fp32 = exact_fp32  # no TF32 math: fp32 engines are held to the fp32 parity tolerance
        self.logger = _quiet_logger(trt)
        self.builder = trt.Builder(self.logger)
        self.timed = builder.name == "tensorrt"
        if self.timed:
            config = self.builder.create_builder_config()
            self.cache = config.create_timing_cache(timing_cache) or config.create_timing_cache(b"")  # stale: anew
        self.workspace_mib = workspace_mib
        self.monitor = _progress_monitor(trt, progress)
        self.progress = progress
        # the engine itself is checked too where a GPU it runs on is visible (deserializing needs one)
        self.can_load = targets.gpu is not None and runs_on(targets.record(builder, trt.__version__), targets.gpu)

    def build(self, onnx_path: Path, profiles: list[dict[str, tuple[Shape, Shape, Shape]]], spec: GraphSpec
              ) -> tuple[bytes, dict]:
        """A serialized engine for the graph at onnx_path, one optimization profile per entry of `profiles`, and
        its network_report."""
        trt = self.trt
        network = self.builder.create_network(0)  # strongly typed: TensorRT 11 and TensorRT for RTX have no other
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise TtsxError(f"{self.flavour.title}'s ONNX parser rejected {onnx_path}: {errors}. The readiness check "
                            "missed this: please report it with the graph")
        config = self.builder.create_builder_config()
        if self.timed:
            self._use_timing_cache(config)
        if self.targets.set_by == "--compute-capability":
            config.num_compute_capabilities = len(self.targets.compute_capabilities)
            for i, cc in enumerate(self.targets.compute_capabilities):
                config.set_compute_capability(getattr(trt.ComputeCapability, "SM" + cc.replace(".", "")), i)
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
                raise TtsxError(f"{self.flavour.title} refused the optimization profile of {onnx_path.name}: "
                                f"{profile}")
        report = network_report(trt, network, spec, config.num_optimization_profiles)
        engine = self.builder.build_serialized_network(network, config)
        if engine is None:
            raise TtsxError(f"{self.flavour.title} failed to build {onnx_path.name} (its log above says why); try a "
                            "smaller --max-batch or a larger --workspace-mib")
        if self.can_load:
            self._check_engine(engine, spec, onnx_path, len(profiles))
            report["checked"] = "network and engine"
        return bytes(engine), report

    def _use_timing_cache(self, config) -> None:
        if not config.set_timing_cache(self.cache, False):  # a cache from another GPU or TensorRT: start afresh
            self.progress("warning: the timing cache was made on another GPU or TensorRT; starting a new one "
                          "(this build takes longer)")
            self.cache = config.create_timing_cache(b"")
            if not config.set_timing_cache(self.cache, False):
                raise TtsxError("TensorRT refused a new, empty timing cache; rebuild without --timing-cache")

    def _check_engine(self, serialized, spec: GraphSpec, onnx_path: Path, profiles: int) -> None:
        """An engine whose cache outputs are not aliases of its cache inputs would copy (or lose) the cache."""
        engine = self.trt.Runtime(self.logger).deserialize_cuda_engine(serialized)
        if engine is None:
            raise TtsxError(f"{onnx_path.name}: the engine just built does not load on this GPU ({self.targets.gpu})")
        if engine.num_optimization_profiles != profiles:
            raise TtsxError(f"{onnx_path.name}: the engine has {engine.num_optimization_profiles} optimization "
                            f"profiles, not {profiles}")
        wrong = [(p.present, engine.get_aliased_input_tensor(p.present)) for p in spec.cache
                 if engine.get_aliased_input_tensor(p.present) != p.past]
        if wrong:
            raise TtsxError(f"{onnx_path.name}: the engine's cache outputs are not aliases of the cache inputs "
                            f"({wrong[:2]}...); the in-place KV update needs a graph exported "
                            "with --kv-cache tensorrt")

    def serialized_cache(self) -> bytes:
        """The timing cache with every kernel timed so far (TensorRT 11)."""
        return bytes(self.cache.serialize())


# Parser notes that are not problems: ttsx binds int64 inputs as int64 (runtimes/tensorrt_backend.py).
KNOWN_NOTES = ("has Int64 binding",)


def _quiet_logger(trt):
    """A trt.ILogger printing warnings and errors to stderr, less KNOWN_NOTES."""
    import sys

    class Quiet(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)

        def log(self, severity, msg):
            if severity <= trt.ILogger.Severity.WARNING and not any(note in msg for note in KNOWN_NOTES):
                print(f"TensorRT {severity.name.lower()}: {msg}", file=sys.stderr)

    return Quiet()


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
