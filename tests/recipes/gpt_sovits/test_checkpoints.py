"""Checkpoint pairs as upstream's training writes them (in a checkout with its pretrained models: conftest.py) (process_ckpt.savee / my_save2, utils.HParams), for v2,
v2Pro and v2ProPlus at tiny sizes: they load without running code from the file, of the right version only,
and export to artifacts whose greedy ids and audio equal upstream's infer_panel and decode on the same files."""
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import ttsx
from ttsx.base.errors import SourceError
from ttsx.exporter.export import ExportOptions, export_artifact
from ttsx.recipes import get_family, get_recipe
from ttsx.recipes.families.gpt_sovits.checkpoints import read, sovits_version
from ttsx.recipes.families.gpt_sovits.kinds import given_noise
from ttsx.runtimes.pipeline import SynthesisOptions

from .conftest import VERSIONS, upstream_models, upstream_version

TEXT = "HH AH0 L OW1 , W ER1 L D ."
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)


def test_training_files_carry_upstream_version_codes(pairs, upstream_save):
    """my_save2's 2-byte codes and torch.save's zip, read as upstream's get_sovits_version_from_path_fast does."""
    heads = {name: next(folder.glob("*.pth")).read_bytes()[:2] for name, folder in pairs.items()}
    assert heads == {"gpt-sovits-tiny": b"PK", "gpt-sovits-v2pro-tiny": b"05", "gpt-sovits-v2proplus-tiny": b"06"}
    for name, folder in pairs.items():
        path = next(folder.glob("*.pth"))
        checkpoint = read(path)
        assert sovits_version(checkpoint) == upstream_version(upstream_save, path, checkpoint.weight)
        assert checkpoint.config["model"]["version"] == get_recipe(name).vits.version  # HParams read as a mapping
        assert not any(k.startswith("enc_q.") for k in checkpoint.weight)


@pytest.mark.parametrize("name", list(VERSIONS))
def test_a_training_pair_exports_and_equals_upstream(pairs, upstream_save, name, tmp_path):
    """Greedy ids equal upstream's infer_panel, the audio its decode (sv_emb for v2Pro/ProPlus), on the pair."""
    out = export_artifact(ExportOptions(name, ttsx.recipes.source.ModelSource("checkpoint", location=str(pairs[name])),
                                        tmp_path / "art"))
    t2s, vits, model_version = upstream_models(upstream_save, pairs[name])
    recipe, rng = get_recipe(name), np.random.default_rng(5)
    voice = {"prompt_ids": rng.integers(0, 1024, 30), "prompt_phonemes": rng.integers(0, 732, 12),
             "refer": np.abs(rng.standard_normal((1025, 90))).astype(np.float32)}
    if recipe.vits.is_pro:
        voice["sv_emb"] = rng.standard_normal(recipe.vits.sv_dim).astype(np.float32)
    np.savez(tmp_path / "voice.npz", **voice)
    with ttsx.load(out) as pipeline:
        calls = []
        run = pipeline.sessions["vits"].run
        pipeline.sessions["vits"].run = lambda feed, *a, **k: calls.append(dict(feed)) or run(feed, *a, **k)
        speech = pipeline(TEXT, voice=tmp_path / "voice.npz", options=SynthesisOptions(greedy=True, seed=0))
        phones = np.asarray(pipeline.phonemizer.encode(TEXT), np.int64)
    all_ids = torch.from_numpy(np.concatenate([voice["prompt_phonemes"], phones]))[None]
    with torch.no_grad():
        y, idx = t2s.infer_panel(all_ids, torch.tensor([all_ids.shape[1]]), torch.from_numpy(voice["prompt_ids"])[None],
                                 torch.zeros(1, 1024, all_ids.shape[1]), top_k=1)
        codes = y[:, -idx:].unsqueeze(0)
        sv = {"sv_emb": [torch.from_numpy(voice["sv_emb"])[None]]} if "sv_emb" in voice else {}
        with given_noise(torch.from_numpy(calls[0]["noise"])):
            audio = vits.decode(codes, torch.from_numpy(phones)[None], [torch.from_numpy(voice["refer"])[None]], **sv)
    assert model_version == (VERSIONS[name] or "v2")
    np.testing.assert_array_equal(speech.t2s[0], codes[0, 0].numpy())
    np.testing.assert_allclose(speech.audio[0], audio.reshape(-1).numpy(), **WAVE_TOL)
    if recipe.vits.is_pro:  # the embedding is not inert: another one moves the audio
        np.savez(tmp_path / "other.npz", **{**voice, "sv_emb": -voice["sv_emb"]})
        with ttsx.load(out) as pipeline:
            other = pipeline(TEXT, voice=tmp_path / "other.npz", options=SynthesisOptions(greedy=True, seed=0))
        assert not np.allclose(other.audio[0], speech.audio[0], atol=1e-3)


def test_a_pair_of_another_version_names_the_recipe_to_use(pairs):
    family = get_family("gpt_sovits")
    source = ttsx.recipes.source.ModelSource("checkpoint", location=str(pairs["gpt-sovits-v2proplus-tiny"]))
    with pytest.raises(SourceError, match="v2ProPlus SoVITS checkpoint.*use --recipe gpt-sovits-v2proplus-tiny"):
        family.load_reference(get_recipe("gpt-sovits-v2pro-tiny"), source)
    source = ttsx.recipes.source.ModelSource("checkpoint", location=str(pairs["gpt-sovits-tiny"]))
    with pytest.raises(SourceError, match="v2 SoVITS checkpoint.*use --recipe gpt-sovits-tiny"):
        family.load_reference(get_recipe("gpt-sovits-v2proplus-tiny"), source)


def test_v3_v4_and_lora_files_are_refused_with_the_reason(pairs, tmp_path):
    path = next(pairs["gpt-sovits-v2pro-tiny"].glob("*.pth"))
    for code, reason in ((b"02", "v3 decodes with a flow-matching model"), (b"04", "a LoRA of v4")):
        other = tmp_path / f"{code.decode()}.pth"
        other.write_bytes(code + path.read_bytes()[2:])
        with pytest.raises(SourceError, match=reason):
            ttsx.recipes.families.gpt_sovits.checkpoints.check_version(read(other), "gpt-sovits-v2pro", "v2Pro")


def leave_a_mark(path):
    """What a hostile checkpoint would run: here it only writes a file, so the test can see whether it ran."""
    Path(path).write_text("ran")


class Hostile:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return leave_a_mark, (str(self.marker),)


@pytest.mark.parametrize("header", [b"PK", b"05"])
def test_a_checkpoint_naming_another_global_is_refused_and_nothing_runs(tmp_path, header, gpt_sovits_home):
    marker = tmp_path / "marker"
    path = tmp_path / "hostile.pth"
    torch.save({"weight": {"x": torch.zeros(2)}, "config": {"model": {}}, "payload": Hostile(marker)}, path)
    path.write_bytes(header + path.read_bytes()[2:])
    with pytest.raises(SourceError, match=r"names the Python global .*leave_a_mark.*without running anything"):
        read(path)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(Hostile(marker)))
    pickle.loads(plain.read_bytes())
    assert marker.read_text() == "ran"  # the payload is live: the refusal above is what kept it from running
