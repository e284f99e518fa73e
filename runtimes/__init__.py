"""Runtimes: stage sessions over exported graphs, one module per backend."""
