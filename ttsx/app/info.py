"""`ttsx info ARTIFACT|ENGINES`: what an artifact or an engine directory is, read from its manifest (no graph,
model or engine is loaded: an engine directory is described on a machine without a GPU)."""
from __future__ import annotations

import json
from pathlib import Path

from ttsx.artifact.engines import ENGINE_FORMAT, RTX_RUNS_ON, read_engine_manifest
from ttsx.artifact.manifest import MANIFEST, load_artifact


def describe(root: str | Path, verify: bool = False) -> str:
    """Recipe, precision, graphs (files, sizes, I/O), voices, tokenizer, source, versions and readiness; for an
    engine directory, describe_engines."""
    if _format(Path(root)) == ENGINE_FORMAT:
        return describe_engines(Path(root), verify)
    artifact = load_artifact(root, verify=verify)
    manifest, files = artifact.manifest, artifact.manifest["files"]
    source = manifest["source"]
    lines = [f"artifact   {artifact.root}",
             f"recipe     {manifest['recipe']} (family {artifact.recipe.family}), precision {artifact.precision}, "
             f"KV cache {artifact.kv_cache}",
             f"source     {_source(source)}, weights sha256 {source.get('weights_sha256', '?')[:16]}",
             f"created    {manifest.get('created', '?')}",
             f"files      {len(files)} listed, {_size(_total(artifact.root, files))}, "
             + ("sha256 verified" if verify else "not verified (ttsx info --verify hashes every file)"),
             f"tokenizer  {manifest.get('tokenizer') or 'none (byte stand-in: random weights)'}",
             f"voices     {', '.join(sorted(manifest.get('voices', {}))) or 'none'}",
             "versions   " + ", ".join(f"{k} {v}" for k, v in manifest.get("versions", {}).items()),
             "graphs"]
    for name in artifact.graph_names:
        entry = manifest["graphs"][name]
        graph_files = [f for f in files if f == entry["file"] or f.startswith(entry["file"] + ".")]
        problems = entry.get("tensorrt_problems", [])
        lines.append(f"  {name:10s} {entry['file']} ({_size(_total(artifact.root, graph_files))}), "
                     f"{entry.get('precision', artifact.precision)}, TensorRT-ready: "
                     + ("yes" if not problems else f"no ({len(problems)} problems)"))
        if entry.get("prefill"):
            prefill = entry["prefill"]["file"]
            prefill_files = [f for f in files if f == prefill or f.startswith(prefill + ".")]
            lines.append(f"    prefill  {prefill} ({_size(_total(artifact.root, prefill_files))}), "
                         f"{entry['prefill']['precision']}: runs the calls of several positions; the file above "
                         "runs the one-token steps")
        cache = {name for pair in entry.get("cache", []) for name in pair[:2]}
        for what in ("inputs", "outputs"):
            shown = ", ".join(f"{t['name']} {t['dtype']}{list(t['shape'])}" for t in entry[what]
                              if t["name"] not in cache)
            lines.append(f"    {what:7s}  {shown}")
        if cache:
            first = next(t for t in entry["inputs"] if t["name"] in cache)
            lines.append(f"    KV cache {len(entry['cache'])} pairs (past in = present out, updated in place) like "
                         f"{first['name']} {first['dtype']}{list(first['shape'])}")
    return "\n".join(lines)


def _source(source: dict) -> str:
    if source.get("kind") == "random":
        return f"seeded random weights (seed {source.get('seed')}): makes no speech"
    return f"{source.get('kind')} {source.get('location')}"


def _total(root: Path, names) -> int:
    return sum((root / name).stat().st_size for name in names if (root / name).is_file() and name != MANIFEST)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n < 2**30 else f"{n / 2**30:.2f} GiB"


def _format(root: Path) -> str | None:
    try:
        return json.loads((root / MANIFEST).read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        return None  # load_artifact says what is wrong


def describe_engines(root: Path, verify: bool = False) -> str:
    """Builder, targets, source and, per engine, its size, layers, GEMM precisions, in-place caches and profiles."""
    from ttsx.artifact.engines import engine_bytes

    manifest = read_engine_manifest(root)
    built, source = manifest["builder"], manifest["source"]
    if built["name"] != "tensorrt-rtx":
        runs = f"{(built.get('gpu') or {}).get('name', '?')} only (the GPU model it was built on)"
    elif built["targets_set_by"] == "builder default":
        runs = RTX_RUNS_ON
    else:
        runs = f"GPUs of compute capability {', '.join(built['compute_capabilities'])} only (as asked at build time)"
    if verify:
        for graph in manifest["engines"]:
            engine_bytes(root, manifest, graph)  # raises on a changed file
    lines = [f"engines    {root} ({manifest['format']} v{manifest['format_version']})",
             f"recipe     {manifest.get('recipe', '?')}, precision {manifest['precision']}, "
             f"max batch {manifest.get('max_batch', '?')}",
             f"builder    {built['name']} {built['version']}, for compute capability "
             f"{', '.join(built['compute_capabilities'])} ({built['targets_set_by']})",
             f"runs on    {runs}",
             f"source     {source['path']}" + (f" ({source['converted_with']} on the way)"
                                               if source.get("converted_with") else ""),
             f"created    {manifest.get('created', '?')}, peak memory of the build "
             f"{manifest.get('peak_rss_mib', '?')} MiB",
             f"files      {len(manifest['files'])} listed, "
             + ("sha256 verified" if verify else "not verified (ttsx info --verify hashes every engine)"),
             "engines"]
    for graph, entry in manifest["engines"].items():
        gemms = ", ".join(f"{n} {p.lower()}" for p, n in entry.get("gemm_precisions", {}).items()) or "none"
        lines.append(f"  {graph:10s} {entry['file']} ({_size(entry.get('bytes', 0))}), built in "
                     f"{entry.get('build_seconds', '?')} s, {entry.get('layers', '?')} network layers, GEMMs: {gemms}"
                     + (f", {entry['quantize_layers']} Q/DQ layers" if entry.get("quantize_layers") else ""))
        caches = entry.get("kv_cache_updates", {})
        if caches:
            first = next(iter(caches.items()))
            lines.append(f"    KV cache  {len(caches)} outputs updated in place (KV-cache update layers), like "
                         f"{first[0]} <- {first[1]}; checked on the {entry.get('checked', '?')}")
        for profile in entry.get("profiles", []):
            shapes = profile["shapes"]
            shown = ", ".join(f"{name} {shape['min']}..{shape['max']}" for name, shape in shapes.items()
                              if name not in caches.values() and shape["max"])  # [] is a scalar
            lines.append(f"    profile   {profile['phase']}: {shown or 'static shapes'}")
    return "\n".join(lines)
