"""Runtimes: stage sessions on a backend, the causal runner, sampling, and the pipeline base families build on."""

BACKENDS = ("onnxruntime", "torch", "torch-compiled", "tensorrt")  # runtimes/factory.py opens each
