"""WAV output: 16-bit PCM mono, written atomically (a failed write leaves no file behind)."""
from __future__ import annotations

import os
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


class WavStream:
    """A WAV written chunk by chunk: `OUTPUT.partial` is a valid WAV after every chunk (its header patched) and
    becomes OUTPUT when the stream ends; a stream that fails or is interrupted leaves no file behind."""

    def __init__(self, path: str | Path, sample_rate: int):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.sample_rate, self.samples = sample_rate, 0

    def __enter__(self) -> "WavStream":
        self._file = wave.open(str(self.partial), "wb")
        self._file.setnchannels(1)
        self._file.setsampwidth(2)
        self._file.setframerate(self.sample_rate)
        return self

    def write(self, audio: np.ndarray) -> None:
        self._file.writeframes(pcm16(audio))
        self.samples += len(audio)

    def __exit__(self, kind, *exc) -> None:
        self._file.close()
        if kind is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


def output_paths(output: Path, count: int) -> list[Path]:
    """One path per text: OUTPUT itself for one text, OUTPUT-001.wav, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i:03d}{output.suffix or '.wav'}") for i in range(1, count + 1)]
