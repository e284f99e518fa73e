"""GPT-SoVITS streaming inside a piece, as upstream's `TTS.run(streaming_mode=True)` does it (TTS_infer_pack/TTS.py,
v2/v2Pro/v2ProPlus without a vocoder):

    t2s   infer_panel_naive(streaming_mode=True): after each step, once a row holds chunk + 2 ids past its last
          split, the ids' cosine likeness to the mute id 486's embedding (threshold 0.0; a pair of neighbours
          counted together) picks a split; the chunk sent is every id past the last split (so the ids after
          the split point are sent again in the next chunk: upstream's own duplication, kept), the split
          moves past the chosen id. The last chunk is what is left when the row stops (None when nothing is).
    vits  decode_streaming over every id sent so far (duplicates included), keeping the last (chunk + 2) ids'
          frames (2 + 10 - chunk when a later chunk is shorter than 10), their first frames sine-faded with
          the previous chunk's latent; the audio's last 2 ids (2560 samples) held back and joined to the next
          chunk by SOLA (a 320-sample search, a Hann crossfade); a final chunk sent whole; each chunk divided
          by its peak when that passes 1.

ttsx sends float32 chunks (upstream converts each to int16) and no 0.3 s pause after a piece.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np


MUTE_ID = 486  # TTS_Config.mute_tokens (every version's)
SPLIT_THRESHOLD = 0.0  # TTS.run's chunk_split_thershold
CHECK_TOKENS = 2  # infer_panel_naive's check_token_num
MIN_CHUNK = 16  # TTS.run's min_chunk_length default
OVERLAP_IDS = 2  # TTS.run's overlap_length default
SHORT_CHUNK = 10  # a later chunk shorter than this widens its overlap to this many ids
SOLA_SEARCH = 320  # sola_algorithm's search_len
SIMILARITY_FILE = "mute_similarity.npy"


def write_mute_similarity(t2s, directory: Path) -> None:
    """TTS.init_t2s_weights's mute_emb_sim_matrix: each semantic id's embedding's cosine with the mute id's."""
    import torch.nn.functional as F

    codebook = t2s.ar_audio_embedding.weight.detach()
    similarity = F.cosine_similarity(codebook[MUTE_ID].unsqueeze(0).float(), codebook.float(), dim=-1)
    np.save(directory / SIMILARITY_FILE, similarity.numpy().astype(np.float32), allow_pickle=False)


class Splitter:
    """infer_panel_naive's streaming split over one row's generated ids (the prompt's excluded)."""

    def __init__(self, similarity: np.ndarray, chunk: int):
        self.similarity, self.chunk, self.pointer = similarity, chunk, 0

    def push(self, ids: list[int], done: bool) -> Iterator[tuple[np.ndarray | None, bool]]:
        """After a step: (chunk ids, final) to send, if any. `ids` are every id so far, EOS excluded."""
        if done:
            yield (np.asarray(ids[self.pointer:], np.int64) if self.pointer < len(ids) else None), True
            return
        if len(ids) - self.pointer < self.chunk + CHECK_TOKENS:
            return
        score = self.similarity[ids[self.pointer:]] - np.float32(SPLIT_THRESHOLD)
        score[score < 0] = -1
        score[:-1] = score[:-1] + score[1:]  # a pair of neighbours
        best = int(np.argmax(score))
        if score[best] >= 0 and best + 1 >= self.chunk:
            yield np.asarray(ids[self.pointer:], np.int64), False
            self.pointer += best + 1


Decode = Callable[[np.ndarray, int, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


class Joiner:
    """TTS.run's streaming loop over sent chunks: decode_streaming, the held-back overlap, SOLA, the peak rule.

    decode(codes so far [T], frames kept, the previous latent's tail [1, C, n] or None) -> (audio [samples],
    latent [1, C, frames]): decode_streaming with upstream's sine fade over the tail."""

    def __init__(self, decode: Decode, samples_per_id: int, overlap_ids: int = OVERLAP_IDS):
        self.decode, self.samples_per_id, self.overlap_ids = decode, samples_per_id, overlap_ids
        self.overlap_size = overlap_ids * samples_per_id  # math.ceil(overlap_length * upsample_rate)
        self.sent: list[np.ndarray] = []
        self.last_audio: np.ndarray | None = None
        self.last_latent: np.ndarray | None = None

    def push(self, ids: np.ndarray | None, final: bool) -> np.ndarray | None:
        """One chunk's audio to send (None when the stream has nothing more)."""
        if ids is None:
            return None if self.last_audio is None else peak_rule(self.last_audio[-self.overlap_size:].copy())
        first = self.last_audio is None
        self.sent.append(ids)
        overlap_ids = self.overlap_ids + (SHORT_CHUNK - len(ids)) if not first and len(ids) < SHORT_CHUNK \
            else self.overlap_ids
        codes = np.concatenate(self.sent)
        if first:  # every id's frames, nothing faded
            audio, latent = self.decode(codes, 2 * len(codes), None)
        else:
            audio, latent = self.decode(codes, 2 * (len(ids) + overlap_ids), self.last_latent[:, :, -2 * overlap_ids:])
        if overlap_ids > self.overlap_ids:
            audio = audio[-int((self.overlap_ids + len(ids)) * self.samples_per_id):]
        if first and not final:
            out = audio[:-self.overlap_size]
        elif first or final:
            out = audio
        else:
            joined = sola(self.last_audio, audio, self.overlap_size)
            out = joined[len(self.last_audio) - self.overlap_size: -self.overlap_size]
        self.last_latent, self.last_audio = latent, audio
        return peak_rule(out)


def sola(f1: np.ndarray, f2: np.ndarray, overlap: int, search: int = SOLA_SEARCH) -> np.ndarray:
    """TTS.sola_algorithm for two fragments: f2's offset within `search` samples that best matches f1's last
    `overlap` samples (normalised cross-correlation), then a Hann crossfade; f1 without its tail + f2 from there.
    Like upstream, it writes the crossfade into f2 itself."""
    w1, w2 = f1[-overlap:], f2[: overlap + search]
    windows = np.lib.stride_tricks.sliding_window_view(w2, overlap)
    correlation = windows @ w1
    energy = (windows * windows).sum(1) + np.float32(1e-8)
    idx = int(np.argmax(correlation / np.sqrt(energy)))
    tail = f2[idx:]
    hann = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2 * overlap) / (2 * overlap))).astype(np.float32)
    tail[:overlap] = hann[:overlap] * tail[:overlap] + hann[overlap:] * f1[-overlap:]
    return np.concatenate([f1[:-overlap], tail])


def sine_fade(frames: int) -> np.ndarray:
    """decode_streaming's crossfade [2, frames]: sin(pi * i / (2 * frames)) for i < 2 * frames, split in halves
    (the first weighs the new frames, the second the previous chunk's)."""
    window = np.sin(np.arange(2 * frames, dtype=np.float32) * np.float32(np.pi) / np.float32(2 * frames))
    return window.reshape(2, frames)


def peak_rule(chunk: np.ndarray) -> np.ndarray:
    """audio_postprocess: a chunk whose peak passes 1 is divided by it."""
    peak = float(np.abs(chunk).max()) if len(chunk) else 0.0
    return chunk / np.float32(peak) if peak > 1 else chunk
