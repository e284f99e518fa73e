"""Exporter: turns PyTorch reference models into artifact directories (ONNX graphs + manifest)."""
