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

from ttsx.base import schema
from ttsx.base.errors import ArtifactError
from ttsx.base.files import read_regular
from ttsx.recipes.spec import CachePair, Conversion, GraphSpec, TensorSpec, Tolerance

MANIFEST = "manifest.json"
FORMAT = "ttsx-artifact"
READABLE_VERSIONS = (3, 4)  # a version-3 graph entry has a `kind` (unused now) and no `choices` (the recipe's)
FORMAT_VERSION = 4  # 2: model families, cache pairs, conversion rules; 3: in-place KV caches; 4: graph kinds
#                    are the recipe's objects (no `kind` in a graph entry), `choices` outputs
CHUNK = 1 << 22  # bytes read per hashing step (4 MiB)
MAX_MANIFEST_BYTES = 64 << 20  # a manifest lists files and graph I/O: kilobytes; refuse anything near this
MAX_IR_VERSION = 13  # the newest ONNX IR onnxruntime 1.31 reads (the TensorRT flavour writes 12, others 10)


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
    return {"file": file, "stage": spec.stage, "choices": list(spec.choices),
            "inputs": [t.to_json() for t in spec.inputs], "outputs": [t.to_json() for t in spec.outputs],
            "cache": [pair.to_json() for pair in spec.cache], "convert": spec.convert.to_json(),
            "tolerance": {"atol": spec.tolerance.atol, "rtol": spec.tolerance.rtol},
            "min_sizes": dict(spec.min_sizes)}


def graph_from_json(name: str, entry: dict) -> GraphSpec:
    """Inverse of graph_to_json."""
    convert = entry.get("convert", {})
    return GraphSpec(name, entry["stage"],
                     inputs=tuple(TensorSpec.from_json(t) for t in entry["inputs"]),
                     outputs=tuple(TensorSpec.from_json(t) for t in entry["outputs"]),
                     tolerance=Tolerance(**entry["tolerance"]),
                     min_sizes=tuple(entry.get("min_sizes", {}).items()),
                     cache=tuple(CachePair(*pair) for pair in entry.get("cache", [])),
                     convert=Conversion(convert.get("int8", True), convert.get("fp16", True),
                                        tuple(convert.get("fp32_ops", ()))),
                     choices=tuple(entry.get("choices", ())))


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
        """The flavour of its in-place KV cache updates (recipes.spec.KV_CACHES)."""
        return self.manifest.get("kv_cache", "onnxruntime")

    @property
    def graph_names(self) -> list[str]:
        """Graph names in pipeline order."""
        return list(self.manifest["graphs"])

    def graph_spec(self, name: str) -> GraphSpec:
        """The I/O spec of graph `name`: the recipe's (load_artifact checked the manifest agrees with it)."""
        if name not in self.manifest["graphs"]:
            raise ArtifactError(f"artifact {self.root} has no graph {name!r}; it has {', '.join(self.graph_names)}")
        return self.recipe.graph_spec(name, self.precision, self.kv_cache)

    def file(self, relative: str) -> Path:
        """A file the manifest lists with its hash (checked at load), inside the artifact; anything else is refused."""
        if relative not in self.manifest.get("files", {}):
            raise ArtifactError(f"{self.root / relative} is named by {MANIFEST} but not listed there with a hash; "
                                "refusing to read it; re-export the artifact")
        return safe_path(self.root, relative)

    def directory(self, relative: str) -> Path:
        """A directory whose every entry is a regular file the manifest lists (no symlink, no unlisted file)."""
        directory = safe_path(self.root, relative)
        if not directory.is_dir():
            raise ArtifactError(f"{self.root / relative} is named by {MANIFEST} but is not a directory; re-export")
        listed, root = self.manifest.get("files", {}), self.root.resolve()
        for path in sorted(directory.rglob("*")):
            name = path.relative_to(root).as_posix()
            if path.is_symlink() or not (path.is_dir() or path.is_file()):
                raise ArtifactError(f"{self.root / name} is a symlink or special file inside {relative}/; artifacts "
                                    "hold regular files only; refusing to read it; re-export the artifact")
            if path.is_file() and name not in listed:
                raise ArtifactError(f"{self.root / name} is not listed in {MANIFEST} (added after export?); "
                                    "refusing to read it; remove it or re-export the artifact")
        return directory

    def graph_path(self, name: str) -> Path:
        """Absolute path of graph `name`'s .onnx file."""
        self.graph_spec(name)
        return safe_path(self.root, self.manifest["graphs"][name]["file"])

    def prefill_path(self, name: str) -> Path | None:
        """Absolute path of the graph that runs graph `name`'s prefills (int4 artifacts), or None: the graph itself."""
        self.graph_spec(name)
        prefill = self.manifest["graphs"][name].get("prefill")
        return safe_path(self.root, prefill["file"]) if prefill else None


def read_manifest(root: Path) -> dict:
    """Parse OUT/manifest.json or explain why it can't be used."""
    if not root.is_dir():
        raise ArtifactError(f"no artifact directory at {root}; create one with `ttsx export --recipe NAME "
                            f"--random-weights -o {root}`")
    path = root / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{root} has no {MANIFEST}: it is not a complete ttsx artifact (an interrupted "
                            "export?); run `ttsx export` again")
    return parse_manifest(path, FORMAT, READABLE_VERSIONS, "re-export the artifact with this ttsx", schema.ARTIFACT)


def parse_manifest(path: Path, fmt: str, version: int | tuple[int, ...], fix: str, shape, outdated=ArtifactError) -> dict:
    """Parse a JSON manifest of format `fmt` and `version` (or one of several) that fits schema `shape`; each error
    ends with `fix`."""
    versions = version if isinstance(version, tuple) else (version,)
    try:
        manifest = json.loads(read_regular(path, MAX_MANIFEST_BYTES, "manifest").decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{path} is not valid JSON ({str(exc)[:200]}); {fix}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != fmt:
        raise ArtifactError(f"{path} is not a {fmt} manifest; {fix}")
    if manifest.get("format_version") not in versions:
        readable = " or ".join(map(str, versions))
        raise outdated(f"{path} has format_version {manifest.get('format_version')}; this ttsx reads {readable}: {fix}")
    schema.check(manifest, shape, str(path))
    return manifest


def verify_files(root: Path, manifest: dict) -> None:
    """Every listed file exists inside root with its recorded sha256; every graph file is listed."""
    files = manifest.get("files", {})
    for entry in manifest.get("graphs", {}).values():
        for file in graph_files(entry):
            if file not in files:
                raise ArtifactError(f"graph file {file} is not listed in {root / MANIFEST}; re-export")
    for relative, expected in files.items():
        path = safe_path(root, relative)
        if not path.is_file():
            raise ArtifactError(f"{path} is listed in the manifest but missing; re-export the artifact")
        if sha256_file(path) != expected:
            raise ArtifactError(f"{path} changed since export (sha256 differs from the manifest); "
                                "re-export the artifact or restore the file")


def verify_graphs(root: Path, manifest: dict, specs: dict[str, GraphSpec]) -> None:
    """Each graph file is its own, an ONNX model of a readable IR version whose real I/O is its spec's."""
    import onnx

    owners: dict[str, str] = {}
    for name, entry in manifest["graphs"].items():
        for file in graph_files(entry):
            if file in owners:
                raise ArtifactError(f"graphs {owners[file]!r} and {name!r} in {root / MANIFEST} name the same "
                                    f"file {file}; re-export the artifact")
            owners[file] = name
            path = safe_path(root, file)
            try:
                model = onnx.load(str(path), load_external_data=False)
            except Exception as exc:  # protobuf's DecodeError and friends: the file is not a model
                raise ArtifactError(f"{path} (graph {name!r}) is not an ONNX model ({type(exc).__name__}); "
                                    "re-export the artifact") from None
            if not 3 <= model.ir_version <= MAX_IR_VERSION:
                raise ArtifactError(f"{path}: ONNX IR version {model.ir_version}; ttsx reads versions 3 to "
                                    f"{MAX_IR_VERSION}; re-export the artifact with this ttsx")
            _check_io(path, model.graph, specs[name])
            _check_external_data(root, manifest, file, path, model)


def graph_files(entry: dict) -> list[str]:
    """The .onnx files of one manifest graph entry: the graph's, and its prefill graph's where it has one."""
    return [entry["file"]] + ([entry["prefill"]["file"]] if entry.get("prefill") else [])


def _check_io(path: Path, graph, spec: GraphSpec) -> None:
    """The graph's real inputs and outputs (names, element types, ranks) against the spec."""
    from onnx.helper import tensor_dtype_to_np_dtype

    def real(values) -> list[tuple]:
        return [(v.name, tensor_dtype_to_np_dtype(v.type.tensor_type.elem_type).name
                 if v.type.tensor_type.elem_type else "?", len(v.type.tensor_type.shape.dim)) for v in values]

    weights = {init.name for init in graph.initializer}
    for what, values, wanted in (("inputs", [v for v in graph.input if v.name not in weights], spec.inputs),
                                 ("outputs", graph.output, spec.outputs)):
        have, want = real(values), [(t.name, t.dtype, len(t.shape)) for t in wanted]
        if have != want:
            i = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
            raise ArtifactError(f"{path}: the graph's {what} are not those of {spec.name!r} ({len(have)} in the file, "
                                f"{len(want)} in the spec; {what} {i}: {_fmt(have, i)} in the file, {_fmt(want, i)} "
                                "in the spec); the file is not the one exported: re-export the artifact")


def _fmt(io: list[tuple], i: int) -> str:
    return "none" if i >= len(io) else "{} {} rank {}".format(*io[i])


def _check_external_data(root: Path, manifest: dict, file: str, graph_file: Path, model) -> None:
    """Every external-data location of the graph stays in root and is a hashed manifest file.

    A graph may name any path as its weights file (`../../home/user/.ssh/id_rsa`, a symlink out):
    onnxruntime would read it. The manifest hash covers the .onnx file, not where it points.
    """
    import onnx

    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        relative = (Path(file).parent / location).as_posix()
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
    artifact = Artifact(root, manifest)
    expected = _check_against_recipe(artifact, recipe)
    if verify:
        verify_files(root, manifest)
        verify_graphs(root, manifest, expected)
    if manifest.get("tokenizer"):
        artifact.directory(manifest["tokenizer"])
    for relative in manifest.get("voices", {}).values():
        artifact.file(relative)
    return artifact


def _expected_specs(artifact: Artifact, recipe) -> dict[str, GraphSpec]:
    try:
        expected = {spec.name: spec for spec in recipe.graphs(artifact.precision, artifact.kv_cache)}
    except KeyError as exc:
        raise ArtifactError(f"{artifact.root}: {exc.args[0]} (made by a newer ttsx?)") from None
    unknown = [name for name in artifact.graph_names if name not in expected]
    if unknown or len(artifact.graph_names) != len(expected):
        raise ArtifactError(f"{artifact.root} has graphs {', '.join(artifact.graph_names)}; recipe {recipe.name!r} "
                            f"makes {', '.join(expected)}; re-export the artifact")
    return expected


def _check_against_recipe(artifact: Artifact, recipe) -> dict[str, GraphSpec]:
    """The recipe's specs by graph name, once the manifest's records of graph I/O agree with them."""
    expected = _expected_specs(artifact, recipe)
    for name in artifact.graph_names:
        spec = graph_from_json(name, artifact.manifest["graphs"][name])
        want = expected.get(name)
        if want is None or (spec.inputs, spec.outputs, spec.cache) != (want.inputs, want.outputs, want.cache):
            raise ArtifactError(f"graph {name!r} in {artifact.root} does not match recipe {recipe.name!r} "
                                "(exported by another ttsx version?); re-export the artifact")
    return expected
