"""ttsx: export multi-stage TTS models to ONNX/TensorRT and run them with parity checks.

`ttsx.load(artifact_dir)` is the one-line entry. Names here load on first use, so importing a low
layer (`ttsx.base.errors`, say) runs nothing of a higher one.
"""
__version__ = "0.2.0"

__all__ = ["load", "Speech", "SynthesisOptions", "TtsxError", "__version__"]
_LAZY = {"load": "ttsx.api", "Speech": "ttsx.runtimes.pipeline", "SynthesisOptions": "ttsx.runtimes.pipeline",
         "TtsxError": "ttsx.base.errors"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'ttsx' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
