"""WAV output: 16-bit PCM mono, written atomically (a failed write leaves no file behind)."""
from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ttsx.files import write_atomic

PCM_MAX = 32767  # int16 full scale


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio in [-1, 1] to `path` via a temp file and rename."""
    pcm = (np.clip(np.asarray(audio, np.float32), -1.0, 1.0) * PCM_MAX).astype("<i2")

    def write(tmp: Path) -> None:
        with wave.open(str(tmp), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(sample_rate)
            f.writeframes(pcm.tobytes())

    return write_atomic(Path(path), write, "WAV file")


def output_paths(output: Path, count: int) -> list[Path]:
    """One path per text: OUTPUT itself for one text, OUTPUT-001.wav, ... for several."""
    if count == 1:
        return [output]
    return [output.with_name(f"{output.stem}-{i:03d}{output.suffix or '.wav'}") for i in range(1, count + 1)]
