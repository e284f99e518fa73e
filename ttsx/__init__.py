"""ttsx: export multi-stage TTS models to ONNX/TensorRT and run them with parity checks."""
__version__ = "0.2.0"

from ttsx import torchaudio_guard  # noqa: E402

torchaudio_guard.install()  # before anything imports transformers (see ttsx/torchaudio_guard.py)

from ttsx.api import load  # noqa: E402  (light: torch/onnxruntime load inside)
from ttsx.runtimes.pipeline import Speech, SynthesisOptions  # noqa: E402  (numpy only)

__all__ = ["load", "Speech", "SynthesisOptions", "__version__"]
