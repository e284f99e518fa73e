"""Artifacts, checkpoints and voices from others: nothing outside the artifact is read, nothing is unpickled."""
import json
import os
import pickle

import numpy as np
import onnx
import pytest

from ttsx.artifact.manifest import load_artifact, sha256_file
from ttsx.base.errors import ArtifactError, SourceError, TtsxError
from ttsx.recipes.families.bark.reference import checkpoint_reference, random_reference
from ttsx.recipes.source import ModelSource
from ttsx.recipes import get_recipe
from ttsx.recipes.families.bark.voices import load_voice


def _rehash(root):
    """Re-sign the manifest, as an attacker who hands out a whole artifact would."""
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {name: sha256_file(root / name) for name in manifest["files"]}
    (root / "manifest.json").write_text(json.dumps(manifest))


def _point_weights_at(root, graph, location):
    model = onnx.load(str(root / f"{graph}.onnx"), load_external_data=False)
    for init in model.graph.initializer:
        for entry in init.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save_model(model, str(root / f"{graph}.onnx"))
    _rehash(root)


def test_external_data_outside_the_artifact_is_refused(tiny_copy, tmp_path):
    (tmp_path / "secret.bin").write_bytes(b"\0" * 4096)
    _point_weights_at(tiny_copy, "fine", "../secret.bin")
    with pytest.raises(ArtifactError, match="'../secret.bin'.*leaves the artifact directory"):
        load_artifact(tiny_copy)


def test_external_data_via_symlink_out_of_the_artifact_is_refused(tiny_copy, tmp_path):
    outside = tmp_path / "outside.data"
    os.replace(tiny_copy / "fine.onnx.data", outside)
    os.symlink(outside, tiny_copy / "fine.onnx.data")
    _rehash(tiny_copy)
    with pytest.raises(ArtifactError, match="outside the artifact directory"):
        load_artifact(tiny_copy)


def test_external_data_in_an_unlisted_file_is_refused(tiny_copy):
    (tiny_copy / "extra.data").write_bytes((tiny_copy / "fine.onnx.data").read_bytes())
    _point_weights_at(tiny_copy, "fine", "extra.data")
    with pytest.raises(ArtifactError, match="does not list"):
        load_artifact(tiny_copy)


def test_changed_file_is_named(tiny_copy):
    (tiny_copy / "codec.onnx.data").write_bytes(b"x")
    with pytest.raises(ArtifactError, match=r"codec.onnx.data changed since export"):
        load_artifact(tiny_copy)


class _Exploit:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_checkpoint_is_never_unpickled(tmp_path):
    root = tmp_path / "ckpt"
    random_reference(get_recipe("bark-tiny"), seed=0).config.save_pretrained(root)
    marker = tmp_path / "pwned"
    with open(root / "pytorch_model.bin", "wb") as f:
        pickle.dump({"weight": _Exploit(marker)}, f)
    with pytest.raises(SourceError, match="could not load Bark weights"):
        checkpoint_reference(get_recipe("bark-tiny"), ModelSource("checkpoint", str(root)))
    assert not marker.exists()


def test_pickled_voice_is_refused(tiny_artifact, tmp_path):
    path = tmp_path / "voice.npz"
    np.savez(path, semantic_prompt=np.array([_Exploit(tmp_path / "pwned")], dtype=object),
             coarse_prompt=np.zeros((2, 3), np.int64), fine_prompt=np.zeros((8, 3), np.int64))
    with pytest.raises(TtsxError, match="can't be read as a plain .npz"):
        load_voice(load_artifact(tiny_artifact), path)
    assert not (tmp_path / "pwned").exists()


def _with_tokenizer(root, files):
    """Give the artifact a tokenizer/ directory, listed and hashed as an export would."""
    (root / "tokenizer").mkdir()
    for name, text in files.items():
        (root / "tokenizer" / name).write_text(text)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["tokenizer"] = "tokenizer"
    manifest["files"].update({f"tokenizer/{name}": "" for name in files})
    (root / "manifest.json").write_text(json.dumps(manifest))
    _rehash(root)


def test_a_symlink_in_the_tokenizer_directory_is_never_read(tiny_copy, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("[PAD]\nsecret\n")
    _with_tokenizer(tiny_copy, {"tokenizer_config.json": "{}"})
    os.symlink(secret, tiny_copy / "tokenizer" / "vocab.txt")
    with pytest.raises(ArtifactError, match=r"tokenizer/vocab.txt is a symlink or special file"):
        load_artifact(tiny_copy)


def test_an_unlisted_file_in_the_tokenizer_directory_is_refused(tiny_copy):
    _with_tokenizer(tiny_copy, {"tokenizer_config.json": "{}"})
    (tiny_copy / "tokenizer" / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(ArtifactError, match=r"tokenizer/vocab.txt is not listed in manifest.json"):
        load_artifact(tiny_copy)


def test_a_changed_tokenizer_file_is_refused(tiny_copy):
    _with_tokenizer(tiny_copy, {"vocab.txt": "[PAD]\n"})
    load_artifact(tiny_copy)
    (tiny_copy / "tokenizer" / "vocab.txt").write_text("[PAD]\nother\n")
    with pytest.raises(ArtifactError, match=r"vocab.txt changed since export"):
        load_artifact(tiny_copy)


def test_a_voice_file_the_manifest_does_not_list_is_refused(tiny_copy):
    (tiny_copy / "voices").mkdir()
    np.savez(tiny_copy / "voices" / "v.npz", semantic_prompt=np.zeros(3, np.int64))
    manifest = json.loads((tiny_copy / "manifest.json").read_text())
    manifest["voices"] = {"v": "voices/v.npz"}
    (tiny_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match=r"voices/v.npz is named by manifest.json but not listed"):
        load_artifact(tiny_copy)
