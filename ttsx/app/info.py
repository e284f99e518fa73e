"""`ttsx info ARTIFACT`: what an artifact is, read from its manifest (no graph or model is loaded)."""
from __future__ import annotations

from pathlib import Path

from ttsx.artifact.manifest import MANIFEST, load_artifact


def describe(root: str | Path, verify: bool = False) -> str:
    """Recipe, precision, graphs (files, sizes, I/O), voices, tokenizer, source, versions and readiness."""
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
