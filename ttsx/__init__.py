"""ttsx: export multi-stage TTS models to ONNX/TensorRT and run them with parity checks."""
__version__ = "0.1.0"
