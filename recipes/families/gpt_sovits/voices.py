"""GPT-SoVITS voices: a reference clip as the model reads it, stored in the artifact, loaded without pickle.

Upstream conditions on a reference clip three ways: its semantic ids (cnhubert features through
SoVITS's ssl_proj and quantizer) prompt the t2s model, its transcript's phonemes come before the
text's, and its linear spectrogram (`spectrogram_torch`, 1025 bins) drives SoVITS's reference encoder.
A voice file holds the three: `prompt_ids` int64 [P] (0..1023), `prompt_phonemes` int64 [X] and
`refer` float32 [1025, F]; a v2Pro/ProPlus voice adds `sv_emb` float32 [20480], the clip's speaker-verification
embedding (sv.py: Kaldi fbank at 16 kHz -> ERes2NetV2's forward3). A random-weights artifact carries seeded ones (seed-N); a request names a
preset and never a path (the server); the CLI and Python API also take a user's .npz.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ttsx.base.errors import TtsxError
from ttsx.base.files import load_npz
from ttsx.exporter.assets import voice_file_name

PRESET_SEEDS = (0, 1)
KEYS = ("prompt_ids", "prompt_phonemes", "refer")
PRO_KEYS = KEYS + ("sv_emb",)


@dataclass(frozen=True)
class Voice:
    prompt_ids: np.ndarray  # int64 [P]
    prompt_phonemes: np.ndarray  # int64 [X]
    refer: np.ndarray  # float32 [1025, F]
    sv_emb: np.ndarray | None = None  # float32 [20480], v2Pro/ProPlus only


def draw_voices(ref, out_dir: Path, seeds=PRESET_SEEDS) -> dict[str, str]:
    """Seeded voices of random ids, phonemes and a spectrogram-like magnitude -> voices/seed-N.npz; {name: file}."""
    vits, t2s = ref.vits, ref.t2s
    voices = {}
    for seed in seeds:
        rng = np.random.default_rng([seed, 7])
        prompt = rng.integers(0, vits.quantizer.vq.layers[0]._codebook.embed.shape[0], 25 + 10 * seed)
        phonemes = rng.integers(0, t2s.phoneme_vocab_size, 12 + 3 * seed)
        refer = np.abs(rng.standard_normal((vits.spec_channels, 80 + 20 * seed))).astype(np.float32)
        extra = {"sv_emb": rng.standard_normal(vits.sv_emb.in_features).astype(np.float32)} \
            if getattr(vits, "is_v2pro", False) else {}
        name = f"seed-{seed}"
        relative = voice_file_name(name)
        (out_dir / relative).parent.mkdir(exist_ok=True)
        np.savez(out_dir / relative, prompt_ids=prompt.astype(np.int64), prompt_phonemes=phonemes.astype(np.int64),
                 refer=refer, **extra)
        voices[name] = relative
    return voices


def scale_loud(audio: np.ndarray) -> np.ndarray:
    """A clip scaled down by min(2, peak) when its peak passes 1, as upstream's get_spepc does (float32)."""
    audio = np.asarray(audio, np.float32)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return (audio / min(2.0, peak)).astype(np.float32) if peak > 1 else audio


def reference_spectrogram(audio: np.ndarray, sample_rate: int, recipe) -> np.ndarray:
    """A reference clip's linear spectrogram as upstream's web UI makes it (get_spepc: scale_loud, then
    module/mel_processing.spectrogram_torch with s2.json's filter 2048, hop 640, window 2048, center False):
    float32 [1025, F]. The clip must already be at 32 kHz."""
    import torch

    if sample_rate != recipe.sampling.sample_rate:
        raise TtsxError(f"the reference clip is at {sample_rate} Hz; resample it to {recipe.sampling.sample_rate} Hz "
                        "first (upstream loads it with librosa at that rate)")
    y = torch.from_numpy(scale_loud(audio).reshape(1, -1).copy())
    n_fft, hop = 2 * (recipe.vits.spec_channels - 1), recipe.vits.hop
    if y.shape[1] < n_fft:
        raise TtsxError(f"the reference clip has {y.shape[1]} samples; at least {n_fft} are needed")
    y = torch.nn.functional.pad(y.unsqueeze(1), ((n_fft - hop) // 2, (n_fft - hop) // 2), mode="reflect").squeeze(1)
    spec = torch.stft(y, n_fft, hop_length=hop, win_length=n_fft, window=torch.hann_window(n_fft), center=False,
                      pad_mode="reflect", normalized=False, onesided=True, return_complex=True)
    spec = torch.view_as_real(spec)
    return torch.sqrt(spec.pow(2).sum(-1) + 1e-8)[0].numpy()


def load_voice(recipe, path: Path) -> Voice:
    """A voice from a preset's (or a user's) .npz, checked against the recipe's vocabularies."""
    pro = recipe.vits.is_pro
    keys = PRO_KEYS if pro else KEYS
    data = load_npz(path, keys)
    missing = [k for k in keys if k not in data]
    if missing:
        sv = f" and sv_emb (float32 [{recipe.vits.sv_dim}], {recipe.vits.version})" if pro else ""
        raise TtsxError(f"voice {path}: lacks {', '.join(missing)}; a GPT-SoVITS voice holds prompt_ids (int64 [P]), "
                        f"prompt_phonemes (int64 [X]), refer (float32 [{recipe.vits.spec_channels}, F]){sv}")
    ids, phonemes, refer = data["prompt_ids"], data["prompt_phonemes"], data["refer"]
    problems = []
    if ids.ndim != 1 or ids.dtype.kind not in "iu" or (ids.size and not (0 <= ids.min() and ids.max() < recipe.vits.codebook)):
        problems.append(f"prompt_ids must be integers in [0, {recipe.vits.codebook}) of shape [P]")
    if phonemes.ndim != 1 or phonemes.dtype.kind not in "iu" or not phonemes.size or \
            not (0 <= phonemes.min() and phonemes.max() < recipe.t2s.phonemes):
        problems.append(f"prompt_phonemes must be a non-empty [X] of integers in [0, {recipe.t2s.phonemes})")
    if refer.ndim != 2 or refer.shape[0] != recipe.vits.spec_channels or refer.shape[1] < 8 or \
            refer.dtype != np.float32 or not np.isfinite(refer).all():
        problems.append(f"refer must be finite float32 [{recipe.vits.spec_channels}, F] with F >= 8 frames")
    sv_emb = data.get("sv_emb") if pro else None
    if pro and (sv_emb.shape != (recipe.vits.sv_dim,) or sv_emb.dtype != np.float32 or not np.isfinite(sv_emb).all()):
        problems.append(f"sv_emb must be finite float32 [{recipe.vits.sv_dim}]")
    if problems:
        raise TtsxError(f"voice {path}: " + "; ".join(problems))
    return Voice(ids.astype(np.int64), phonemes.astype(np.int64), refer, sv_emb)
