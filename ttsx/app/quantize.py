"""`ttsx quantize`: the exporter's conversion with the runtimes' calibration recorder (the two layers meet here)."""
from __future__ import annotations

from pathlib import Path

from ttsx.base.progress import Progress
from ttsx.exporter.quantize import QuantizeOptions


def quantize_artifact(options: QuantizeOptions, progress: Progress = lambda message: None) -> Path:
    """A new artifact at options.precision from an fp32 one; int8-qdq calibrates on the stage inputs recorded
    while the fp32 pipeline runs (runtimes/recording.py)."""
    from ttsx.exporter.quantize import quantize_artifact as convert
    from ttsx.runtimes.recording import capture_feeds

    return convert(options, progress, capture_feeds)
