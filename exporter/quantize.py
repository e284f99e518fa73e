"""`ttsx quantize`: an fp32 artifact -> a new artifact at fp16, int8, int8-qdq or int4 (see recipes/precision.py)."""
from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ttsx.artifact.manifest import MANIFEST, Artifact, graph_to_json, load_artifact, sha256_file
from ttsx.base.errors import ArtifactError, TtsxError
from ttsx.base.progress import Progress, counter, quiet_third_party
from ttsx.base.versions import library_versions
from ttsx.recipes import get_family
from ttsx.recipes.precision import CALIBRATION_SAMPLING, DECODE_STRIDE, Precision, get_precision

from .convert import INT4_ACCURACY_LEVEL, INT4_BLOCK, REDUCE_RANGE, to_fp16, to_int4, to_int8_dynamic, to_int8_qdq
from .tensorrt_check import FLAVOUR_NOTE, meant_for_tensorrt, readiness
from .writer import ArtifactWriter

METHODS = {
    "fp16": "onnxruntime.transformers.float16; kept fp32: each graph's convert.fp32_ops; fp16 KV cache",
    "int8": "onnxruntime.quantization.quantize_dynamic: weight MatMuls, int8 per-channel weights in 7 bits "
            "(reduce_range)",
    "int8-qdq": "onnxruntime.quantization.quantize_static, QDQ: weight MatMuls but output heads and attention output "
                "projections, int8 symmetric weights (per channel, 7 bits: reduce_range) and activations (per tensor, "
                "MinMax calibration), zero point 0",
    "int4": f"onnxruntime.quantization.matmul_nbits_quantizer: decode graphs' weight MatMuls -> MatMulNBits, int4 "
            f"symmetric, blocks of {INT4_BLOCK}, accuracy level {INT4_ACCURACY_LEVEL}; prefill graphs and graphs "
            "without a cache: int8 as the int8 precision",
}
PREFILL = "{name}.prefill"  # the file name (no .onnx) of an int4 causal graph's prefill graph


@dataclass(frozen=True)
class QuantizeOptions:
    """What `ttsx quantize` was asked to do."""

    source: Path  # fp32 artifact directory (from `ttsx export`)
    precision: str  # fp16 | int8 | int8-qdq
    out: Path  # new artifact directory
    force: bool = False  # replace an existing artifact at `out`
    prompts: tuple[str, ...] | None = None  # int8-qdq calibration texts; None: the family's calibration_prompts
    calibration_tokens: int = 48  # first-stage tokens per calibration prompt
    keep_fp32: tuple[str, ...] = ()  # GRAPH: copied unconverted (a per-graph precision mix), int8/int8-qdq/int4 only;
    # GRAPH:REGEX (int8 only): GRAPH's weight MatMuls whose node name matches REGEX (re.search) left fp32


Capture = Callable[[Artifact, tuple, int], dict]  # (artifact, prompts, tokens) -> {graph: [feed, ...]}


@quiet_third_party
def quantize_artifact(options: QuantizeOptions, progress: Progress = lambda message: None,
                      capture: Capture | None = None) -> Path:
    """Convert every graph of the source artifact; returns the new artifact directory. int8-qdq calibrates on
    the stage inputs `capture` records while the fp32 pipeline runs (ttsx.app.quantize.quantize_artifact passes the
    runtimes' recorder; the exporter runs no pipeline)."""
    precision = _precision(options.precision)
    source = load_artifact(options.source)
    if source.precision != "fp32":
        raise ArtifactError(f"{source.root} is already {source.precision}; quantize from the fp32 artifact "
                            "that `ttsx export` wrote")
    try:
        source.recipe.budget(precision.name)  # `ttsx parity` holds the artifact to it
    except KeyError as exc:
        raise TtsxError(exc.args[0]) from None
    out, root = Path(options.out).resolve(), source.root.resolve()
    if out == root or out.is_relative_to(root) or root.is_relative_to(out):
        raise ArtifactError(f"the output {options.out} would replace or write into the source artifact {root}; "
                            "choose an -o outside it")
    graphs_kept, nodes_kept = _check_keep(options.keep_fp32, source, precision)
    samples, prompts = {}, options.prompts or get_family(source.recipe.family).calibration_prompts()
    if precision.name == "int8-qdq":
        if capture is None:
            raise TtsxError("int8-qdq calibrates on the fp32 pipeline's stage inputs: quantize with "
                            "ttsx.app.quantize.quantize_artifact (or `ttsx quantize`), which runs the pipeline to record them")
        progress(f"calibration: running the fp32 pipeline on {len(prompts)} prompts")
        samples = capture(source, tuple(prompts), options.calibration_tokens)
    for_tensorrt = meant_for_tensorrt(source.kv_cache, precision.name)
    if not for_tensorrt:
        progress("note: " + FLAVOUR_NOTE.format(what=f"{precision.name}, KV-cache flavour {source.kv_cache}"))
    specs = source.recipe.graphs(precision.name, source.kv_cache)
    with ArtifactWriter(options.out, options.force) as writer, counter(progress, "graphs", len(specs)) as advance:
        graphs = {}
        for i, spec in enumerate(specs, 1):
            start = time.perf_counter()
            kept = spec.name in graphs_kept
            graphs[spec.name] = _convert(source, spec, precision, samples.get(spec.name, []), writer.root, kept,
                                         nodes_kept.get(spec.name))
            graphs[spec.name]["tensorrt_problems"] = readiness(writer.root / graphs[spec.name]["file"], spec.name,
                                                               progress if for_tensorrt else None)
            advance(f"{spec.name}: {graphs[spec.name]['precision']} in {time.perf_counter() - start:.1f} s")
        _copy_assets(source, writer.root)
        return writer.commit(_manifest(source, precision, options, graphs, samples, prompts))


def _precision(name: str) -> Precision:
    try:
        precision = get_precision(name)
    except KeyError as exc:
        raise TtsxError(exc.args[0]) from None
    if precision.name == "fp32":
        raise TtsxError("fp32 is what `ttsx export` writes; quantize to fp16, int8, int8-qdq or int4")
    return precision


def _check_keep(keep: tuple[str, ...], source: Artifact, precision: Precision) -> tuple[set, dict]:
    """(graphs kept fp32, {graph: compiled pattern of its weight MatMuls kept fp32}) from --keep-fp32's GRAPH and
    GRAPH:REGEX entries. Graphs must exist, and the precision must store a kept graph's I/O as it stores a converted
    one's (fp16 stores KV tensors in float16, so a graph kept fp32 would not match its spec); node patterns are
    for int8 (dynamic: a node left fp32 needs no calibration or re-blocking)."""
    graphs, nodes = set(), {}
    for entry in keep:
        graph, _, pattern = entry.partition(":")
        if graph not in source.graph_names:
            raise TtsxError(f"--keep-fp32 {entry}: no such graph {graph!r} in {source.root}; its graphs: "
                            f"{', '.join(source.graph_names)}")
        if not pattern:
            graphs.add(graph)
            continue
        if precision.name != "int8":
            raise TtsxError(f"--keep-fp32 {entry}: keeping single MatMuls fp32 is for --precision int8; for "
                            f"{precision.name} keep the whole graph (--keep-fp32 {graph})")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise TtsxError(f"--keep-fp32 {entry}: {pattern!r} is not a regular expression ({exc})") from None
        previous = nodes.get(graph)
        nodes[graph] = compiled if previous is None else re.compile(f"(?:{previous.pattern})|(?:{pattern})")
    if keep and precision.kv_dtype != "float32":
        raise TtsxError(f"--keep-fp32 mixes precisions in int8, int8-qdq and int4 artifacts; {precision.name} "
                        "stores converted graphs' KV tensors in its own dtype")
    return graphs, nodes


def _convert(source: Artifact, spec, precision: Precision, samples: list, root: Path, keep: bool = False,
             keep_nodes: re.Pattern | None = None) -> dict:
    """Convert one graph into root (or copy it when the spec, or --keep-fp32, keeps it fp32); its manifest entry.
    keep_nodes: int8's weight MatMuls left fp32 (names matching it), recorded in the entry."""
    src = source.graph_path(spec.name)
    if keep or not spec.converted(precision):
        files = [f for f in (src.name, src.name + ".data") if (src.parent / f).exists()]
        for name in files:
            shutil.copy2(src.parent / name, root / name)
        return {**graph_to_json(spec, files[0]), "precision": "fp32"}
    if precision.name == "int4":
        return _int4(src, spec, root)
    if precision.name == "fp16":
        files = to_fp16(src, spec, root)
    elif precision.name == "int8":
        kept_nodes: list[str] = []

        def kept(node: str) -> bool:
            if keep_nodes is not None and keep_nodes.search(node):
                kept_nodes.append(node)
                return True
            return False

        files = to_int8_dynamic(src, spec, root, keep=kept)
        if keep_nodes is not None and not kept_nodes:
            raise TtsxError(f"--keep-fp32 {spec.name}:{keep_nodes.pattern}: no weight MatMul of {spec.name} matches; "
                            f"its names look like {_matmul_names(src)}")
    else:
        files = to_int8_qdq(src, spec, root, samples)
    entry = {**graph_to_json(spec, files[0]), "precision": precision.name}
    if precision.name == "int8" and keep_nodes is not None:
        entry["kept_fp32_matmuls"] = kept_nodes
    if samples:
        entry["calibration_samples"] = len(samples)
    return entry


def _matmul_names(src: Path) -> str:
    """A few of a graph's weight MatMul (and Gemm: quantized as MatMul) names, for an error."""
    import onnx

    model = onnx.load(str(src), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    names = [n.name for n in model.graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in weights]
    return ", ".join(names[:3] + (["...", names[-1]] if len(names) > 3 else []))


def _int4(src: Path, spec, root: Path) -> dict:
    """A causal graph: int4 for its decode steps plus an int8 prefill graph over the same cache; any other graph
    runs once over a long input, where int8 computes faster than int4 (exporter/convert.py), so it is int8."""
    if not spec.cache:
        return {**graph_to_json(spec, to_int8_dynamic(src, spec, root)[0]), "precision": "int8"}
    prefill = to_int8_dynamic(src, spec, root, PREFILL.format(name=spec.name))
    return {**graph_to_json(spec, to_int4(src, spec, root)[0]), "precision": "int4",
            "prefill": {"file": prefill[0], "precision": "int8"}}


def _copy_assets(source: Artifact, root: Path) -> None:
    """Tokenizer directory and voice files, unchanged."""
    manifest = source.manifest
    if manifest.get("tokenizer"):
        shutil.copytree(source.directory(manifest["tokenizer"]), root / manifest["tokenizer"])
    for relative in manifest.get("voices", {}).values():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source.file(relative), root / relative)


def _manifest(source: Artifact, precision: Precision, options: QuantizeOptions, graphs: dict, samples: dict,
              prompts: tuple[str, ...]) -> dict:
    manifest = {key: value for key, value in source.manifest.items() if key != "files"}
    manifest.update(
        precision=precision.name,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        graphs=graphs,
        versions=library_versions(),
        quantization={
            "target": precision.target,
            "method": METHODS[precision.name],
            "reduce_range": REDUCE_RANGE if precision.name in ("int8", "int8-qdq", "int4") else None,
            "derived_from": {"path": str(source.root.absolute()),
                             "manifest_sha256": sha256_file(source.root / MANIFEST)},
            "calibration": None if not samples else {
                "prompts": list(prompts), "tokens": options.calibration_tokens,
                "decode_stride": DECODE_STRIDE, "sampling": CALIBRATION_SAMPLING},
            "kept_fp32": list(options.keep_fp32),
        },
    )
    return manifest
