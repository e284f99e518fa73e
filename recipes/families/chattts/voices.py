"""ChatTTS speakers: fp16 speaker embeddings, drawn at export, loaded without pickle, applied to the prompt.

ChatTTS conditions the code pass on a speaker vector written over the `[spk_emb]` position of the
prompt embeddings, after `F.normalize` in float16 (`Speaker.apply`). An artifact carries a few
speakers drawn the way `Chat.sample_random_speaker` draws them (mean + std * normal, float16),
seeded: voices/seed-N.npz with one array `spk_emb` [hidden].
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ttsx.artifact.manifest import Artifact
from ttsx.base.files import load_npz
from ttsx.base.errors import TtsxError
from ttsx.exporter.assets import voice_file_name

PRESET_SEEDS = (0, 1, 2)
EPS = 1e-12  # F.normalize's eps


def draw_speakers(chat, out_dir: Path, seeds=PRESET_SEEDS) -> dict[str, str]:
    """Seeded speakers as Chat.sample_random_speaker draws them -> out_dir/voices/seed-N.npz; {name: file}."""
    import torch

    voices = {}
    for seed in seeds:
        generator = torch.Generator().manual_seed(seed)
        std, mean = chat.speaker.std, chat.speaker.mean
        spk = torch.randn(chat.speaker.dim, generator=generator, dtype=std.dtype).mul_(std).add_(mean)
        name = f"seed-{seed}"
        relative = voice_file_name(name)
        (out_dir / relative).parent.mkdir(exist_ok=True)
        np.savez(out_dir / relative, spk_emb=spk.numpy())
        voices[name] = relative
    return voices


def load_speaker(artifact: Artifact, path: Path) -> np.ndarray:
    """A speaker from a preset's (or a user's) .npz holding `spk_emb` (float16 [hidden]), checked."""
    spk = load_npz(path, ("spk_emb",)).get("spk_emb")
    hidden = artifact.recipe.gpt.hidden
    if spk is None or spk.shape != (hidden,) or spk.dtype != np.float16 or not np.isfinite(spk).all():
        raise TtsxError(f"voice {path}: needs `spk_emb`, a finite float16 array of shape ({hidden},)")
    return spk


def normalized(speaker: np.ndarray) -> np.ndarray:
    """F.normalize(speaker, dim=0) in float16, as ChatTTS computes it, widened to float32."""
    norm = np.float16(np.sqrt(np.sum(np.square(speaker.astype(np.float32)))))
    return (speaker / max(norm, np.float16(EPS))).astype(np.float16).astype(np.float32)


def apply_speaker(embeds: np.ndarray, ids: np.ndarray, spk_emb_id: int, speaker: np.ndarray) -> np.ndarray:
    """Speaker.apply: every position whose token is [spk_emb] takes the normalised speaker vector."""
    out = embeds.copy()
    out[ids == spk_emb_id] = normalized(speaker)
    return out
