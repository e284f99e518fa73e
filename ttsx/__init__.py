"""ttsx: export multi-stage TTS models to ONNX/TensorRT and run them with parity checks."""
__version__ = "0.1.0"

from ttsx.api import load  # noqa: E402  (light: torch/onnxruntime load inside)

__all__ = ["load", "__version__"]
