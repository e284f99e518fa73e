"""`ttsx export`: reference model -> artifact directory with one ONNX graph per recipe graph."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from ttsx.base.progress import Progress
from ttsx.base.versions import library_versions
from ttsx.artifact.manifest import FORMAT, FORMAT_VERSION, graph_to_json
from ttsx.recipes import get_family, get_recipe
from ttsx.recipes.source import ModelSource, source_record

from .onnx_export import OPSET, export_graph
from ttsx.base.progress import counter, quiet_third_party

from .tensorrt_check import FLAVOUR_NOTE, meant_for_tensorrt, readiness
from .writer import ArtifactWriter



@dataclass(frozen=True)
class ExportOptions:
    """What `ttsx export` was asked to do."""

    recipe: str  # registered recipe name
    source: ModelSource  # checkpoint, hub id or random weights
    out: Path  # artifact directory to create
    force: bool = False  # replace an existing artifact at `out`
    opset: int = OPSET
    kv_cache: str = "onnxruntime"  # in-place cache flavour (recipes.spec.KV_CACHES)


@quiet_third_party
def export_artifact(options: ExportOptions, progress: Progress = lambda message: None) -> Path:
    """Export every graph of the recipe; returns the artifact directory."""
    recipe = get_recipe(options.recipe)
    family = get_family(recipe.family)
    progress(f"loading reference model ({options.source.origin} weights) for {recipe.name}")
    model = family.load_reference(recipe, options.source)
    specs = recipe.graphs(kv_cache=options.kv_cache)
    for_tensorrt = meant_for_tensorrt(options.kv_cache, "fp32")
    if not for_tensorrt:
        progress("note: " + FLAVOUR_NOTE.format(what=f"KV-cache flavour {options.kv_cache}"))
    with ArtifactWriter(options.out, options.force) as writer, counter(progress, "graphs", len(specs)) as advance:
        graphs = {}
        for i, spec in enumerate(specs, 1):
            start = time.perf_counter()
            kind = recipe.graph_kind(spec.name)
            feed = kind.feed(model, spec, kind.example_case(), np.random.default_rng(i))
            module = kind.module(model, options.kv_cache).eval()
            files = export_graph(module, spec, feed, writer.root, options.opset, options.kv_cache)
            graphs[spec.name] = graph_to_json(spec, files[0])
            graphs[spec.name]["tensorrt_problems"] = readiness(writer.root / files[0], spec.name,
                                                               progress if for_tensorrt else None)
            advance(f"{spec.name} exported in {time.perf_counter() - start:.1f} s")
        manifest = _manifest(recipe, family, options, model, graphs, writer.root)
        progress("hashing files and writing manifest.json")
        return writer.commit(manifest)


def _manifest(recipe, family, options: ExportOptions, model, graphs: dict, root: Path) -> dict:
    assets = family.write_assets(model, options.source, root)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "recipe": recipe.name,
        "family": recipe.family,
        "precision": "fp32",
        "kv_cache": options.kv_cache,
        "opset": options.opset,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source_record(options.source, family.fingerprint(model)),
        "graphs": graphs,
        "tokenizer": assets.get("tokenizer"),
        "voices": assets.get("voices", {}),
        "versions": library_versions(),
    }
