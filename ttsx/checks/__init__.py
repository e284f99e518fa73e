"""Checks of an artifact against its PyTorch reference: per-graph parity and end-to-end agreement."""
