"""ttsx: export multi-stage TTS models to ONNX/TensorRT and run them with parity checks."""
__version__ = "0.1.0"


def load(artifact_dir, backend: str = "onnxruntime", model_dir=None, **session_options):
    """Load an artifact directory and return a pipeline: `speech = ttsx.load(d)("Hello.")`."""
    from ttsx.api import load as _load

    return _load(artifact_dir, backend, model_dir, **session_options)
