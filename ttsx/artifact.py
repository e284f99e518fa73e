"""Artifact directories: the manifest format, safe path resolution and integrity checks on load.

    OUT/
      manifest.json            written last; lists every file with its sha256
      <graph>.onnx             one per graph of the recipe; weights in <graph>.onnx.data beside it
      ...
      tokenizer/               when the source had one
      voices/NAME.*            voice presets in the family's own format
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ttsx.errors import ArtifactError
from ttsx.recipes.spec import CachePair, Conversion, GraphSpec, TensorSpec, Tolerance

MANIFEST = "manifest.json"
FORMAT = "ttsx-artifact"
FORMAT_VERSION = 3  # 2: model families, cache pairs, conversion rules; 3: in-place KV caches
CHUNK = 1 << 22  # bytes read per hashing step (4 MiB)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_path(root: Path, relative: str) -> Path:
    """`root/relative`, refusing absolute paths, `..` and symlinks that lead outside root."""
    if Path(relative).is_absolute() or ".." in Path(relative).parts:
        raise ArtifactError(f"path {relative!r} in {root} leaves the artifact directory; refusing to use it")
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ArtifactError(f"{root / relative} resolves to {resolved}, outside the artifact directory "
                            "(a symlink?); refusing to use it")
    return resolved


def graph_to_json(spec: GraphSpec, file: str) -> dict:
    """Manifest entry for one exported graph (a record of the recipe's spec: the recipe is the source of truth)."""
    return {"file": file, "stage": spec.stage, "kind": spec.kind,
            "inputs": [t.to_json() for t in spec.inputs], "outputs": [t.to_json() for t in spec.outputs],
            "cache": [pair.to_json() for pair in spec.cache], "convert": spec.convert.to_json(),
            "tolerance": {"atol": spec.tolerance.atol, "rtol": spec.tolerance.rtol},
            "min_sizes": dict(spec.min_sizes)}


def graph_from_json(name: str, entry: dict) -> GraphSpec:
    """Inverse of graph_to_json."""
    convert = entry.get("convert", {})
    return GraphSpec(name, entry["stage"], entry["kind"],
                     inputs=tuple(TensorSpec.from_json(t) for t in entry["inputs"]),
                     outputs=tuple(TensorSpec.from_json(t) for t in entry["outputs"]),
                     tolerance=Tolerance(**entry["tolerance"]),
                     min_sizes=tuple(entry.get("min_sizes", {}).items()),
                     cache=tuple(CachePair(*pair) for pair in entry.get("cache", [])),
                     convert=Conversion(convert.get("int8", True), convert.get("fp16", True),
                                        tuple(convert.get("fp32_ops", ()))))


@dataclass(frozen=True)
class Artifact:
    """A loaded, verified artifact directory."""

    root: Path
    manifest: dict

    @property
    def recipe(self):
        """The registered recipe this artifact was exported from."""
        from ttsx.recipes import get_recipe

        return get_recipe(self.manifest["recipe"])

    @property
    def precision(self) -> str:
        """fp32 (exported), or the reduced precision `ttsx quantize` made."""
        return self.manifest.get("precision", "fp32")

    @property
    def kv_cache(self) -> str:
        """The flavour of its in-place KV cache updates (recipes.family.KV_CACHES)."""
        return self.manifest.get("kv_cache", "onnxruntime")

    @property
    def graph_names(self) -> list[str]:
        """Graph names in pipeline order."""
        return list(self.manifest["graphs"])

    def graph_spec(self, name: str) -> GraphSpec:
        """The I/O spec of graph `name`: the recipe's (load_artifact checked the manifest agrees with it)."""
        if name not in self.manifest["graphs"]:
            raise ArtifactError(f"artifact {self.root} has no graph {name!r}; it has {', '.join(self.graph_names)}")
        return self.recipe.graph(name, self.precision, self.kv_cache)

    def graph_path(self, name: str) -> Path:
        """Absolute path of graph `name`'s .onnx file."""
        self.graph_spec(name)
        return safe_path(self.root, self.manifest["graphs"][name]["file"])


def read_manifest(root: Path) -> dict:
    """Parse OUT/manifest.json or explain why it can't be used."""
    if not root.is_dir():
        raise ArtifactError(f"no artifact directory at {root}; create one with `ttsx export --recipe NAME "
                            f"--random-weights -o {root}`")
    path = root / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{root} has no {MANIFEST}: it is not a complete ttsx artifact (an interrupted "
                            "export?); run `ttsx export` again")
    return parse_manifest(path, FORMAT, FORMAT_VERSION, "re-export the artifact with this ttsx")


def parse_manifest(path: Path, fmt: str, version: int, fix: str, outdated=ArtifactError) -> dict:
    """Parse a JSON manifest of format `fmt` and `version`; each error ends with `fix`."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}); {fix}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise ArtifactError(f"{path} is not a {fmt} manifest; {fix}")
    if manifest.get("format_version") != version:
        raise outdated(f"{path} has format_version {manifest.get('format_version')}; this ttsx reads {version}: {fix}")
    return manifest


def verify_files(root: Path, manifest: dict) -> None:
    """Every listed file exists inside root with its recorded sha256; every graph file is listed."""
    files = manifest.get("files", {})
    for entry in manifest.get("graphs", {}).values():
        if entry["file"] not in files:
            raise ArtifactError(f"graph file {entry['file']} is not listed in {root / MANIFEST}; re-export")
    for relative, expected in files.items():
        path = safe_path(root, relative)
        if not path.is_file():
            raise ArtifactError(f"{path} is listed in the manifest but missing; re-export the artifact")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{path} changed since export (sha256 differs from the manifest); "
                                "re-export the artifact or restore the file")


def verify_external_data(root: Path, manifest: dict) -> None:
    """Every external-data location inside every graph stays in root and is a hashed manifest file.

    A graph may name any path as its weights file (`../../home/user/.ssh/id_rsa`, a symlink out):
    onnxruntime would read it. The manifest hash covers the .onnx file, not where it points.
    """
    import onnx

    for entry in manifest.get("graphs", {}).values():
        graph_file = safe_path(root, entry["file"])
        model = onnx.load(str(graph_file), load_external_data=False)
        for tensor in _tensors(model.graph):
            if tensor.data_location != onnx.TensorProto.EXTERNAL:
                continue
            location = {e.key: e.value for e in tensor.external_data}.get("location", "")
            relative = (Path(entry["file"]).parent / location).as_posix()
            safe_path(root, relative)
            if relative not in manifest.get("files", {}):
                raise ArtifactError(f"{graph_file.name}: tensor {tensor.name!r} reads weights from {location!r}, "
                                    f"which {MANIFEST} does not list; re-export the artifact")


def _tensors(graph):
    """Initializers and tensor attributes of a graph and its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            for sub in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                yield from _tensors(sub)


def load_artifact(root: str | Path, verify: bool = True) -> Artifact:
    """Read and (by default) verify an artifact directory."""
    root = Path(root)
    manifest = read_manifest(root)
    from ttsx.recipes import UnknownRecipeError, get_recipe

    try:
        recipe = get_recipe(manifest.get("recipe", ""))
    except UnknownRecipeError as exc:
        raise ArtifactError(f"{root}: {exc}") from None
    if verify:
        verify_files(root, manifest)
        verify_external_data(root, manifest)
    artifact = Artifact(root, manifest)
    _check_against_recipe(artifact, recipe)
    return artifact


def _check_against_recipe(artifact: Artifact, recipe) -> None:
    precision = artifact.precision
    try:
        expected = {spec.name: spec for spec in recipe.graphs(precision, artifact.kv_cache)}
    except KeyError as exc:
        raise ArtifactError(f"{artifact.root}: {exc.args[0]} (made by a newer ttsx?)") from None
    for name in artifact.graph_names:
        spec = graph_from_json(name, artifact.manifest["graphs"][name])
        want = expected.get(name)
        if want is None or (spec.inputs, spec.outputs, spec.cache) != (want.inputs, want.outputs, want.cache):
            raise ArtifactError(f"graph {name!r} in {artifact.root} does not match recipe {recipe.name!r} "
                                "(exported by another ttsx version?); re-export the artifact")
