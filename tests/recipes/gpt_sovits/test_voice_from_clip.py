"""A voice from a clip (`ttsx voice`), against upstream's own path: get_tts_wav's prompt ids (librosa.load at
16 kHz, 0.3 s of zeros, cnhubert loaded from the checkout by upstream's CNHubert, extract_latent of the pair's
SoVITS), get_spepc's spectrogram, and sv.py's compute_embedding3 for v2Pro (Kaldi fbank + ERes2NetV2)."""
import importlib.util

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import ttsx
from ttsx.app.cli import main
from ttsx.base.errors import TtsxError
from ttsx.exporter.export import ExportOptions, export_artifact
from ttsx.recipes.families.gpt_sovits.clip import kaldi_fbank, read_clip, resample
from ttsx.recipes.source import ModelSource
from ttsx.runtimes.pipeline import SynthesisOptions

from .conftest import upstream_models

soundfile = pytest.importorskip("soundfile", reason="NOT CHECKED: reading clips (the gpt-sovits extra's soundfile)")
TRANSCRIPT = "HH AH0 L OW1 , W ER1 L D"


def load_file(name: str, path):
    """A module of the checkout by its file (its package's __init__ imports what the subset lacks)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def clip(path, seconds: float, rate: int, channels: int = 1, seed: int = 0):
    """A voiced, noisy clip written as upstream's users have them (any rate, mono or stereo)."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    wave = 0.4 * np.sin(2 * np.pi * (150 + 40 * seed) * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    wave = (wave + 0.03 * rng.standard_normal(len(t))).astype(np.float32)
    soundfile.write(str(path), np.stack([wave * (1 - 0.2 * c) for c in range(channels)], 1), rate)
    return path


@pytest.fixture(scope="module")
def pro_artifact(pairs, tmp_path_factory):
    """gpt-sovits-v2pro-tiny exported from its training-written pair, in the checkout with its pretrained models."""
    out = tmp_path_factory.mktemp("from-pair") / "v2pro"
    return export_artifact(ExportOptions("gpt-sovits-v2pro-tiny",
                                         ModelSource("checkpoint", location=str(pairs["gpt-sovits-v2pro-tiny"])), out))


@pytest.mark.parametrize("rate,channels,suffix", [(44_100, 2, ".wav"), (48_000, 1, ".flac"), (32_000, 1, ".wav")])
def test_clips_load_as_librosa_loads_them(tmp_path, rate, channels, suffix):
    """read_clip + resample equal librosa.load(sr=...) (get_tts_wav's call) sample for sample."""
    librosa = pytest.importorskip("librosa", reason="NOT CHECKED: clip loading against librosa (the dev extra's)")
    path = clip(tmp_path / f"c{suffix}", 4.3, rate, channels)
    audio, found = read_clip(path)
    for target in (16_000, 32_000):
        theirs, _ = librosa.load(str(path), sr=target)
        np.testing.assert_array_equal(resample(audio, found, target), theirs)


def test_the_fbank_equals_upstream_kaldi(gpt_sovits_checkout):
    """kaldi_fbank (numpy, host) against upstream's eres2net/kaldi.fbank with sv.py's arguments."""
    from ttsx.recipes.families.gpt_sovits.reference import import_eres2net

    import_eres2net()
    import kaldi

    wave = clip(gpt_sovits_checkout / "x.wav", 3.2, 16_000)
    audio, _ = read_clip(wave)
    theirs = kaldi.fbank(torch.from_numpy(audio)[None], num_mel_bins=80, sample_frequency=16000, dither=0).numpy()
    ours = kaldi_fbank(audio, 80)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-3, rtol=0)  # log energies of magnitude ~10: float32 sums


def test_a_clip_makes_get_tts_wav_prompt_and_the_sv_embedding(pro_artifact, pairs, upstream_save, gpt_sovits_checkout,
                                                             tmp_path):
    """prompt ids equal get_tts_wav's, the spectrogram get_spepc's (a 32 kHz clip), sv_emb compute_embedding3's."""
    librosa = pytest.importorskip("librosa", reason="NOT CHECKED: get_tts_wav's prompt (it loads clips with librosa)")
    path = clip(tmp_path / "ref.wav", 5.1, 32_000, channels=2, seed=1)
    voice = tmp_path / "voice.npz"
    result = CliRunner().invoke(main, ["voice", str(pro_artifact), str(path), "--text", TRANSCRIPT, "-o", str(voice)])
    assert result.exit_code == 0, result.output
    ours = dict(np.load(voice))

    _, vits, _ = upstream_models(upstream_save, pairs["gpt-sovits-v2pro-tiny"])
    from module.mel_processing import spectrogram_torch

    cnhubert = load_file("cnhubert", gpt_sovits_checkout / "GPT_SoVITS/feature_extractor/cnhubert.py")  # its package
    #                                                         __init__ imports whisper_enc, not in ../shared's subset
    ssl_model = cnhubert.CNHubert(str(gpt_sovits_checkout / "GPT_SoVITS/pretrained_models/chinese-hubert-base")).eval()
    wav16k, _ = librosa.load(str(path), sr=16000)  # get_tts_wav, line for line
    wav16k = torch.cat([torch.from_numpy(wav16k), torch.zeros(int(32000 * 0.3))])
    with torch.no_grad():
        ssl_content = ssl_model.model(wav16k.unsqueeze(0))["last_hidden_state"].transpose(1, 2)
        codes = vits.extract_latent(ssl_content)
    np.testing.assert_array_equal(ours["prompt_ids"], codes[0, 0].numpy())
    assert len(set(ours["prompt_ids"].tolist())) > 5  # the ids follow the clip, not one codebook entry

    audio = torch.from_numpy(soundfile.read(str(path), dtype="float32", always_2d=True)[0].T).mean(0, keepdim=True)
    spec = spectrogram_torch(audio, 2048, 32000, 640, 2048, center=False)[0].numpy()  # get_spepc at 32 kHz
    np.testing.assert_allclose(ours["refer"], spec, atol=1e-5, rtol=1e-5)

    import sv
    model = sv.SV.__new__(sv.SV)  # sv.SV without its hard-coded checkpoint path: the checkout's weights, loaded here
    model.embedding_model, model.is_half = ttsx.recipes.families.gpt_sovits.reference.random_sv(
        ttsx.recipes.get_recipe("gpt-sovits-v2pro-tiny"), 0), False
    model.embedding_model.load_state_dict(torch.load(gpt_sovits_checkout / "GPT_SoVITS/pretrained_models/sv/"
                                                     "pretrained_eres2netv2w24s4ep4.ckpt", weights_only=True))
    wav16k_sv = resample(audio[0].numpy(), 32_000, 16_000)  # ttsx's resampler (upstream's is torchaudio's)
    theirs = model.compute_embedding3(torch.from_numpy(wav16k_sv)[None])[0].numpy()
    np.testing.assert_allclose(ours["sv_emb"], theirs, atol=1e-4, rtol=1e-3)

    with ttsx.load(pro_artifact) as pipeline:  # the voice drives synthesis; another clip moves ids and embedding
        expected = pipeline.phonemizer.encode(TRANSCRIPT + " .")  # get_tts_wav ends an unpunctuated transcript
        np.testing.assert_array_equal(ours["prompt_phonemes"], expected)
        speech = pipeline("HH AH0 L OW1 .", voice=voice, options=SynthesisOptions(greedy=True, seed=0))
        other = pipeline.make_voice(clip(tmp_path / "other.wav", 4.0, 32_000, seed=3), TRANSCRIPT, tmp_path / "o.npz")
    assert len(speech.audio[0]) > 0
    other = dict(np.load(other))
    assert not np.array_equal(other["prompt_ids"][:20], ours["prompt_ids"][:20])
    assert not np.allclose(other["sv_emb"], ours["sv_emb"], atol=1e-3)


def test_bad_clips_and_transcripts_name_the_problem(pro_artifact, tmp_path):
    (tmp_path / "text.wav").write_text("not audio")
    cases = {clip(tmp_path / "short.wav", 2.0, 16_000): "lasts 2.00 s; GPT-SoVITS takes clips of 3 to 10 s",
             clip(tmp_path / "long.flac", 10.5, 22_050): "lasts 10.50 s",
             tmp_path / "text.wav": "can't be read as audio",
             tmp_path / "missing.wav": "no such file"}
    silent = tmp_path / "silent.wav"
    soundfile.write(str(silent), np.zeros(64_000, np.float32), 16_000)
    cases[silent] = "is silent"
    with ttsx.load(pro_artifact) as pipeline:
        for path, message in cases.items():
            with pytest.raises(TtsxError, match=message):
                pipeline.make_voice(path, TRANSCRIPT, tmp_path / "v.npz")
        with pytest.raises(TtsxError, match="transcript is empty"):
            pipeline.make_voice(clip(tmp_path / "ok.wav", 4.0, 16_000), "  ", tmp_path / "v.npz")
    assert not list(tmp_path.glob("v.npz*"))  # nothing half-written
    result = CliRunner().invoke(main, ["voice", str(pro_artifact), str(tmp_path / "short.wav"), "--text", "AA1",
                                       "-o", str(tmp_path / "v.npz")])
    assert result.exit_code == 1 and "Traceback" not in result.output and "3 to 10 s" in result.output


def test_a_family_without_clip_voices_says_so(toy_artifact, tmp_path):
    with ttsx.load(toy_artifact) as pipeline:
        with pytest.raises(TtsxError, match="voices are not made from clips"):
            pipeline.make_voice(tmp_path / "x.wav", "hello", tmp_path / "v.npz")


def test_a_clip_voice_becomes_a_preset_the_server_can_name(pro_artifact, tmp_path):
    import shutil

    from ttsx.artifact.manifest import load_artifact

    art = tmp_path / "art"
    shutil.copytree(pro_artifact, art)
    wave = clip(tmp_path / "ref.flac", 3.5, 24_000)
    args = ["voice", str(art), str(wave), "--text", TRANSCRIPT, "--preset", "alice"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0 and "--voice alice" in result.output, result.output
    assert "alice" in load_artifact(art, verify=True).manifest["voices"]  # hashed into the manifest
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "already has a voice preset 'alice'" in again.output
    with ttsx.load(art) as pipeline:
        assert pipeline.load_voice("alice").sv_emb.shape == (20480,)
        speech = pipeline("HH AH0 L OW1 .", voice="alice", options=SynthesisOptions(greedy=True, seed=0))
    assert len(speech.audio[0]) > 0
