"""A voice from a reference clip and its transcript, as upstream's get_tts_wav (inference_webui.py) makes one.

    clip (WAV, FLAC, OGG: libsndfile) ──mean of channels──> mono float32 at the clip's rate
      ├─ to 16 kHz (soxr HQ: librosa.load(sr=16000)) ── 3-10 s ── + 9600 zeros ──clip_ids──> prompt_ids
      ├─ to 32 kHz ── scaled by 1/min(2, peak) past 1 ──spectrogram──> refer [1025, F]
      │     └─ v2Pro/ProPlus: to 16 kHz ──Kaldi 80-bin fbank (host)──speaker──> sv_emb [20480]
      └─ transcript ──the artifact's phonemizer, "." added when it ends unpunctuated──> prompt_phonemes

The prompt ids follow get_tts_wav exactly (librosa.load's resampler is soxr's HQ mode). Upstream resamples
the 32 kHz spectrogram's audio and the sv model's 16 kHz audio with torchaudio's sinc Resample, which can't
load beside a CPU torch here; ttsx uses soxr's HQ mode there too, so a clip not at 32 kHz gives a spectrogram
(and sv embedding) within resampler differences of upstream's, and a 32 kHz clip gives upstream's.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ttsx.base.errors import TtsxError

from .voices import load_voice, reference_spectrogram, scale_loud

SILENT = 1e-4  # peak amplitude below which a clip holds nothing to clone
SPLITS = set("，。？！,.?!~:：—…")  # inference_webui's `splits`: a transcript ending in none of them gets "."
FRAME = 400  # fbank: 25 ms window at 16 kHz
SHIFT = 160  # 10 ms
PADDED = 512  # the window rounded to a power of two
PREEMPHASIS = 0.97
LOW_HZ = 20.0  # Kaldi's low-freq default; high is Nyquist
EPSILON = np.finfo(np.float32).eps  # Kaldi's floor before the log


def read_clip(path: Path) -> tuple[np.ndarray, int]:
    """(mono float32 samples, rate) of an audio file, channels averaged (librosa.load's to_mono)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise TtsxError(f"reference clip {path}: no such file")
    try:
        audio, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # libsndfile's errors name no common type
        raise TtsxError(f"reference clip {path} can't be read as audio ({str(exc).splitlines()[0]}); give a WAV, "
                        "FLAC or OGG file") from None
    return np.ascontiguousarray(audio.mean(axis=1, dtype=np.float32)), int(rate)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """librosa.resample(res_type="soxr_hq"): soxr's HQ mode, then cut or zero-padded to ceil(n * target / rate)."""
    import soxr

    if rate == target:
        return audio
    out = soxr.resample(audio, rate, target, quality="soxr_hq").astype(np.float32)
    n = int(math.ceil(len(audio) * target / rate))
    return out[:n] if len(out) >= n else np.pad(out, (0, n - len(out)))


def kaldi_fbank(wav16k: np.ndarray, bins: int) -> np.ndarray:
    """Kaldi's log mel filterbank as upstream's eres2net/kaldi.fbank computes it with sv.py's arguments
    (80 bins, 16 kHz, no dither; povey window, DC removed, pre-emphasis 0.97, power spectrum): [frames, bins]."""
    x = np.asarray(wav16k, np.float32)
    if len(x) < FRAME:
        return np.zeros((0, bins), np.float32)
    frames = 1 + (len(x) - FRAME) // SHIFT  # snip_edges
    strided = np.lib.stride_tricks.sliding_window_view(x, FRAME)[::SHIFT][:frames].astype(np.float32)
    strided = strided - strided.mean(axis=1, keepdims=True)
    previous = np.concatenate([strided[:, :1], strided[:, :-1]], axis=1)
    strided = strided - np.float32(PREEMPHASIS) * previous
    window = np.power(np.hanning(FRAME), 0.85).astype(np.float32)  # torch.hann_window(periodic=False) ** 0.85
    padded = np.zeros((frames, PADDED), np.float32)
    padded[:, :FRAME] = strided * window
    power = np.abs(np.fft.rfft(padded, axis=1)).astype(np.float32) ** 2
    energies = power @ mel_banks(bins).T
    return np.log(np.maximum(energies, EPSILON)).astype(np.float32)


def mel_banks(bins: int, rate: int = 16_000) -> np.ndarray:
    """Kaldi's triangular mel filters (get_mel_banks, no VTLN), padded to PADDED // 2 + 1 columns: [bins, 257]."""
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, np.float64) / 700.0)  # noqa: E731
    low, high = mel(LOW_HZ), mel(0.5 * rate)
    delta = (high - low) / (bins + 1)
    left = low + np.arange(bins)[:, None] * delta
    centre, right = left + delta, left + 2 * delta
    fft_mel = mel(rate / PADDED * np.arange(PADDED // 2))[None]
    banks = np.maximum(0.0, np.minimum((fft_mel - left) / (centre - left), (right - fft_mel) / (right - centre)))
    return np.pad(banks, ((0, 0), (0, 1))).astype(np.float32)


def transcript_phonemes(phonemizer, transcript: str) -> np.ndarray:
    """The transcript's phoneme ids, with get_tts_wav's rule: a transcript ending in no split mark gets "."."""
    text = transcript.strip("\n").strip()
    if not text:
        raise TtsxError("the clip's transcript is empty: pass what the clip says (--text), as GPT-SoVITS reads the "
                        "clip with it")
    if text[-1] not in SPLITS:
        text += " ." if phonemizer.symbols_of(text) is not None else "."
    return np.asarray(phonemizer.encode(text), np.int64)


def make_voice(pipeline, clip: Path, transcript: str, out: Path) -> Path:
    """A voice .npz (voices.py) from a reference clip and what it says; checked as a request's voice is."""
    recipe, c = pipeline.recipe, pipeline.recipe.clip
    audio, rate = read_clip(clip)
    if not len(audio) or float(np.abs(audio).max()) < SILENT:
        raise TtsxError(f"reference clip {clip} is silent: record the voice to clone, 3 to 10 s of speech")
    wav16k = resample(audio, rate, c.rate)
    if not c.min_samples <= len(wav16k) <= c.max_samples:
        raise TtsxError(f"reference clip {clip} lasts {len(wav16k) / c.rate:.2f} s; GPT-SoVITS takes clips of "
                        f"{c.min_samples / c.rate:g} to {c.max_samples / c.rate:g} s (get_tts_wav's rule): cut it "
                        "or choose another")
    phonemes = transcript_phonemes(pipeline.phonemizer, transcript)
    padded = np.concatenate([wav16k, np.zeros(c.pause_samples, np.float32)])[None]
    prompt_ids = pipeline.sessions["clip_ids"].run({"wav16k": padded})["codes"][0, 0]
    wav32k = resample(audio, rate, recipe.sampling.sample_rate)
    refer = reference_spectrogram(wav32k, recipe.sampling.sample_rate, recipe)  # scales a loud clip as get_spepc
    extra = {}
    if recipe.vits.is_pro:  # get_spepc's audio (scaled), back to 16 kHz, through compute_embedding3
        fbank = kaldi_fbank(resample(scale_loud(wav32k), recipe.sampling.sample_rate, c.rate), c.fbank_bins)
        extra["sv_emb"] = pipeline.sessions["speaker"].run({"fbank": fbank[None]})["sv_emb"][0]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial.npz")
    try:
        np.savez(partial, prompt_ids=prompt_ids.astype(np.int64), prompt_phonemes=phonemes, refer=refer, **extra)
        load_voice(recipe, partial)  # the checks a request's voice gets, before the file takes its name
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return out
