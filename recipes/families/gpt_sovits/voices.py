"""GPT-SoVITS voices: a reference clip as the model reads it, stored in the artifact, loaded without pickle.

Upstream conditions on a reference clip three ways: its semantic ids (cnhubert features through
SoVITS's ssl_proj and quantizer) prompt the t2s model, its transcript's phonemes come before the
text's, and its linear spectrogram (`spectrogram_torch`, 1025 bins) drives SoVITS's reference encoder.
A voice file holds the three: `prompt_ids` int64 [P] (0..1023), `prompt_phonemes` int64 [X] and
`refer` float32 [1025, F]. A random-weights artifact carries seeded ones (seed-N); a request names a
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


@dataclass(frozen=True)
class Voice:
    prompt_ids: np.ndarray  # int64 [P]
    prompt_phonemes: np.ndarray  # int64 [X]
    refer: np.ndarray  # float32 [1025, F]


def draw_voices(ref, out_dir: Path, seeds=PRESET_SEEDS) -> dict[str, str]:
    """Seeded voices of random ids, phonemes and a spectrogram-like magnitude -> voices/seed-N.npz; {name: file}."""
    vits, t2s = ref.vits, ref.t2s
    voices = {}
    for seed in seeds:
        rng = np.random.default_rng([seed, 7])
        prompt = rng.integers(0, vits.quantizer.vq.layers[0]._codebook.embed.shape[0], 25 + 10 * seed)
        phonemes = rng.integers(0, t2s.phoneme_vocab_size, 12 + 3 * seed)
        refer = np.abs(rng.standard_normal((vits.spec_channels, 80 + 20 * seed))).astype(np.float32)
        name = f"seed-{seed}"
        relative = voice_file_name(name)
        (out_dir / relative).parent.mkdir(exist_ok=True)
        np.savez(out_dir / relative, prompt_ids=prompt.astype(np.int64), prompt_phonemes=phonemes.astype(np.int64),
                 refer=refer)
        voices[name] = relative
    return voices


def load_voice(recipe, path: Path) -> Voice:
    """A voice from a preset's (or a user's) .npz, checked against the recipe's vocabularies."""
    data = load_npz(path, KEYS)
    missing = [k for k in KEYS if k not in data]
    if missing:
        raise TtsxError(f"voice {path}: lacks {', '.join(missing)}; a GPT-SoVITS voice holds prompt_ids (int64 [P]), "
                        f"prompt_phonemes (int64 [X]) and refer (float32 [{recipe.vits.spec_channels}, F])")
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
    if problems:
        raise TtsxError(f"voice {path}: " + "; ".join(problems))
    return Voice(ids.astype(np.int64), phonemes.astype(np.int64), refer)
