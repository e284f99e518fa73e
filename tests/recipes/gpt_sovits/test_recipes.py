"""gpt-sovits-tiny: the checkout is found or named, a checkpoint pair loads, text and voices are checked."""
from pathlib import Path

import numpy as np
import pytest
import torch

import ttsx
from ttsx.base.errors import SourceError, TtsxError
from ttsx.recipes import get_family, get_recipe
from ttsx.recipes.source import ModelSource

RECIPE = "gpt-sovits-tiny"


def test_a_missing_checkout_says_how_to_point_at_one(monkeypatch, tmp_path):
    from ttsx.recipes.families.gpt_sovits.reference import upstream_home

    monkeypatch.delenv("GPT_SOVITS_HOME", raising=False)
    with pytest.raises(SourceError, match="GPT_SOVITS_HOME is not set.*clone https://github.com/RVC-Boss/GPT-SoVITS"):
        upstream_home()
    monkeypatch.setenv("GPT_SOVITS_HOME", str(tmp_path))
    with pytest.raises(SourceError, match="holds no GPT-SoVITS checkout"):
        upstream_home()


def test_every_t2s_layer_is_drawn_apart_and_nothing_left_zero(gpt_sovits_reference):
    """Upstream deep-copies one layer and zero-inits its flows' last convs and the codebook: all redrawn."""
    layers = gpt_sovits_reference.t2s.h.layers
    assert not torch.equal(layers[0].linear1.weight, layers[1].linear1.weight)
    blocks = gpt_sovits_reference.t2s.t2s_transformer.blocks  # upstream's TorchScript blocks read the same tensors
    assert blocks[1].qkv_w.data_ptr() == layers[1].self_attn.in_proj_weight.data_ptr()
    vits = gpt_sovits_reference.vits
    zero = [n for n, p in vits.named_parameters() if p.numel() > 1 and not p.any()]
    assert zero == [] and vits.quantizer.vq.layers[0]._codebook.embed.any()


def _save_pair(reference, folder):
    """The pair users share: the GPT's .ckpt ({'weight': {'model.*'}, 'config'}) and SoVITS's .pth (fp16, no enc_q)."""
    folder.mkdir()
    torch.save({"weight": {f"model.{k}": v for k, v in reference.t2s.state_dict().items()}, "config": {}, "info": "t"},
               folder / "gpt.ckpt")
    torch.save({"weight": {k: v for k, v in reference.vits.state_dict().items() if "enc_q" not in k},
                "config": {"model": {}}, "info": "s"}, folder / "sovits.pth")


def test_a_checkpoint_pair_loads_into_upstream_models(gpt_sovits_checkout, tmp_path):
    """The pair's weights (seed 3) replace the loader's own start (seed 0) in every module (a checkout with its
    pretrained_models: a pair's load reads cnhubert)."""
    family, recipe = get_family("gpt_sovits"), get_recipe(RECIPE)
    source = family.load_reference(recipe, ModelSource("random", seed=3))
    _save_pair(source, tmp_path / "pair")
    loaded = family.load_reference(recipe, ModelSource("checkpoint", location=str(tmp_path / "pair")))
    ours = {k: v for k, v in loaded.vits.state_dict().items() if "enc_q" not in k}
    theirs = {k: v for k, v in source.vits.state_dict().items() if "enc_q" not in k}
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    t2s = source.t2s.state_dict()
    assert all(torch.equal(v, t2s[k]) for k, v in loaded.t2s.state_dict().items())
    with pytest.raises(SourceError, match="does not match this recipe's sizes"):
        family.load_reference(get_recipe("gpt-sovits-v2"), ModelSource("checkpoint", location=str(tmp_path / "pair")))
    (tmp_path / "pair" / "other.ckpt").write_bytes(b"")
    with pytest.raises(SourceError, match="exactly one GPT checkpoint"):
        family.load_reference(recipe, ModelSource("checkpoint", location=str(tmp_path / "pair")))


def test_text_is_phoneme_symbols_without_the_front_end(gpt_sovits_artifact):
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        with pytest.raises(TtsxError, match="not GPT-SoVITS phoneme symbols.*HH AH0 L OW1"):
            pipeline("Hello.")
        assert pipeline.phonemizer.encode("HH AH0 L OW1 .") == [pipeline.phonemizer.ids[s] for s in
                                                                 ("HH", "AH0", "L", "OW1", ".")]
        long = " ".join(["HH AH0 L OW1 ."] * 200)
        pieces = pipeline.split(long)
        assert len(pieces) > 1 and all(len(p.split()) <= 300 and p.endswith(".") for p in pieces)
        assert " ".join(pieces) == long


def test_bad_voice_files_name_the_problem(gpt_sovits_artifact, tmp_path):
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        np.savez(tmp_path / "a.npz", prompt_ids=np.array([1, 2]))
        with pytest.raises(TtsxError, match="lacks prompt_phonemes, refer"):
            pipeline("HH AH0 L OW1 .", voice=tmp_path / "a.npz")
        np.savez(tmp_path / "b.npz", prompt_ids=np.array([5000]), prompt_phonemes=np.array([3]),
                 refer=np.zeros((1025, 20), np.float32))
        with pytest.raises(TtsxError, match=r"prompt_ids must be integers in \[0, 1024\)"):
            pipeline("HH AH0 L OW1 .", voice=tmp_path / "b.npz")
        np.savez(tmp_path / "c.npz", prompt_ids=np.array([5]), prompt_phonemes=np.array([3]),
                 refer=np.zeros((80, 20), np.float32))
        with pytest.raises(TtsxError, match=r"refer must be finite float32 \[1025, F\]"):
            pipeline("HH AH0 L OW1 .", voice=tmp_path / "c.npz")
        with pytest.raises(TtsxError, match="unknown voice 'nobody'.*seed-0, seed-1"):
            pipeline("HH AH0 L OW1 .", voice="nobody")


def test_a_text_longer_than_the_prefill_is_refused_with_the_fix(gpt_sovits_artifact, tmp_path):
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        voice = pipeline.load_voice("seed-0")
        np.savez(tmp_path / "long.npz", prompt_ids=np.arange(400) % 1024, prompt_phonemes=voice.prompt_phonemes,
                 refer=voice.refer)
        with pytest.raises(TtsxError, match="t2s positions; at most 512: use a shorter text piece"):
            pipeline(" ".join(["HH AH0 L OW1 ."] * 30), voice=tmp_path / "long.npz")


def test_a_loud_clip_has_upstream_spectrogram(gpt_sovits_home, monkeypatch):
    """A voice's spectrogram of a clip peaking past 1 equals get_spepc's: scaled by min(2, peak), then
    spectrogram_torch (imported with a stand-in for the librosa mel filters it never uses for a linear one)."""
    import sys
    import types

    from ttsx.recipes.families.gpt_sovits.reference import import_upstream
    from ttsx.recipes.families.gpt_sovits.voices import reference_spectrogram

    import_upstream()
    if "librosa" not in sys.modules:
        try:
            import librosa  # noqa: F401
        except ImportError:
            filters = types.ModuleType("librosa.filters")
            filters.mel = None
            monkeypatch.setitem(sys.modules, "librosa", types.ModuleType("librosa"))
            monkeypatch.setitem(sys.modules, "librosa.filters", filters)
    from module.mel_processing import spectrogram_torch

    recipe = get_recipe(RECIPE)
    clip = (0.9 * np.sin(np.arange(32000) * 0.05) + 0.3 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32)
    assert np.abs(clip).max() > 1  # the scaling is exercised
    scaled = torch.from_numpy(clip / min(2.0, float(np.abs(clip).max())))[None]
    theirs = spectrogram_torch(scaled, 2048, 32000, 640, 2048, center=False)[0].numpy()
    np.testing.assert_allclose(reference_spectrogram(clip, 32000, recipe), theirs, rtol=1e-5, atol=1e-5)
    with pytest.raises(TtsxError, match="resample it to 32000 Hz"):
        reference_spectrogram(clip, 24000, recipe)


STAND_IN_CLEANER = '''
# A test stand-in for upstream's GPT_SoVITS/text/cleaner.py (its g2p is not in ../shared's subset): same
# signature and return value, (phones, word2ph, normalized text), from a fixed table.
def clean_text(text, language, version=None):
    table = {"hello": ["HH", "AH0", "L", "OW1"], ".": ["."]}
    phones = [p for word in text.lower().replace(".", " .").split() for p in table.get(word, ["UNK"])]
    return phones, None, text
'''


def test_plain_text_goes_through_the_checkout_front_end(gpt_sovits_home, gpt_sovits_artifact, tmp_path):
    """With a checkout whose GPT_SoVITS/text has cleaner.py, `ttsx synthesize A "Hello."` phonemizes through it
    (a stand-in with upstream's signature here: ttsx's side of the wiring, not upstream's g2p)."""
    import os
    import subprocess
    import sys

    code = tmp_path / "checkout" / "GPT_SoVITS"
    (code / "text").mkdir(parents=True)
    shared = Path(gpt_sovits_home) / "GPT_SoVITS"
    for name in ("AR", "module", "configs"):
        (code / name).symlink_to(shared / name)
    for name in ("__init__.py", "symbols.py", "symbols2.py"):
        (code / "text" / name).symlink_to(shared / "text" / name)
    (code / "text" / "cleaner.py").write_text(STAND_IN_CLEANER)
    env = {**os.environ, "GPT_SOVITS_HOME": str(tmp_path / "checkout")}
    probe = ("import ttsx; p = ttsx.load(%r); ids = p.phonemizer.encode('Hello.'); "
             "print(ids == [p.phonemizer.ids[s] for s in ('HH', 'AH0', 'L', 'OW1', '.')])" % str(gpt_sovits_artifact))
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().endswith("True"), out.stderr[-2000:]
    wav = tmp_path / "x.wav"
    run = subprocess.run([sys.executable, "-m", "ttsx", "synthesize", str(gpt_sovits_artifact), "Hello.", "-o", str(wav),
                          "--seed", "0"], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and wav.stat().st_size > 44, run.stderr[-2000:]


def test_a_front_end_that_fails_says_what_it_lacks(gpt_sovits_artifact):
    """upstream's clean_text imports its language's g2p packages and data on first use: a missing package or
    nltk's missing data is a TtsxError naming it, not a traceback."""
    from ttsx.recipes.families.gpt_sovits.phonemes import Phonemizer

    phonemizer = Phonemizer(Path(gpt_sovits_artifact) / "tokenizer")

    def missing_package(text, language, version):
        import not_a_g2p_package_ttsx  # noqa: F401

    def missing_data(text, language, version):
        raise LookupError("\n" + "*" * 70 + "\n  Resource cmudict not found.\n  Please use the NLTK Downloader\n")

    for stand_in, expected in ((missing_package, "needs a package that is not installed .*not_a_g2p_package_ttsx"),
                               (missing_data, r"failed on 'Hello.' \(LookupError: Resource cmudict not found.\)")):
        phonemizer._front_end, phonemizer.front_end_home = stand_in, "/checkout"
        with pytest.raises(TtsxError, match=expected):
            phonemizer.encode("Hello.")
        assert phonemizer.encode("HH AH0 L OW1 .") == [phonemizer.ids[s] for s in ("HH", "AH0", "L", "OW1", ".")]
