"""WAV output: 16-bit PCM mono, written atomically (a failed write leaves no file behind)."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ttsx.base.files import write_atomic

PCM_MAX = 32767  # int16 full scale


def pcm16(audio: np.ndarray) -> bytes:
    """Float audio in [-1, 1] as 16-bit little-endian PCM (clipped); chunks convert exactly as their concatenation."""
    return (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * PCM_MAX).astype("<i2").tobytes()


def wav_header(sample_rate: int, n_samples: int | None) -> bytes:
    """The 44-byte header of a 16-bit mono WAV; n_samples None (a stream of unknown length) writes 0xFFFFFFFF sizes."""
    data = 0xFFFFFFFF if n_samples is None else 2 * n_samples
    riff = 0xFFFFFFFF if n_samples is None else 36 + data
    return (b"RIFF" + riff.to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
            + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + sample_rate.to_bytes(4, "little")
            + (2 * sample_rate).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
            + b"data" + data.to_bytes(4, "little"))


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio in [-1, 1] to `path` via a temp file and rename."""
    pcm = pcm16(audio)

    def write(tmp: Path) -> None:
        with wave.open(str(tmp), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm)

    return write_atomic(Path(path), write, "WAV file")


def output_paths(output: Path, count: int) -> list[Path]:
    """One path per text: OUTPUT itself for one text, OUTPUT-001.wav, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i:03d}{output.suffix or '.wav'}") for i in range(1, count + 1)]
