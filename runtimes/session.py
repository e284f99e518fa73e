"""The one interface the pipeline talks to: a stage session with `run(feed) -> outputs`.

A session validates names, dtypes and shapes against the graph spec (from the manifest) before the
backend sees anything, so a bad feed is a FeedError naming the tensor, never a crash in a backend.
Feeds may hold numpy arrays or values a previous `run` of the same backend returned (for example
`present.*` caches kept on the backend's device): only outputs named in `host` come back as numpy.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ttsx.errors import FeedError
from ttsx.recipes.spec import GraphSpec


class StageSession(ABC):
    """Context manager over one graph on one backend."""

    backend = "abstract"

    def __init__(self, spec: GraphSpec):
        self.spec = spec

    def __enter__(self) -> "StageSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, feed: dict, host: tuple[str, ...] | None = None) -> dict:
        """Validate `feed`, run the graph; outputs in `host` (default: all) come back as numpy."""
        validate_feed(self.spec, feed, self.describe)
        return self._run(feed, self.spec.output_names if host is None else host)

    @abstractmethod
    def _run(self, feed: dict, host) -> dict:
        """Backend-specific execution of an already validated feed."""

    def describe(self, value) -> tuple[tuple[int, ...], str]:
        """(shape, dtype name) of a feed value; backends extend this for their native tensors."""
        return describe_numpy(value)

    def close(self) -> None:
        """Release backend resources."""


def describe_numpy(value) -> tuple[tuple[int, ...], str]:
    """(shape, dtype name) of a numpy array; anything else is a FeedError."""
    if not isinstance(value, np.ndarray):
        raise FeedError(f"got a {type(value).__name__}, expected a numpy array")
    return value.shape, str(value.dtype)


def validate_feed(spec: GraphSpec, feed: dict, describe=describe_numpy) -> None:
    """Raise FeedError unless feed has exactly the spec's inputs with matching dtype and shape."""
    missing = [n for n in spec.input_names if n not in feed]
    extra = [n for n in feed if n not in spec.input_names]
    if missing or extra:
        raise FeedError(f"{spec.name}: missing inputs {missing}, unexpected inputs {extra}; "
                        f"expected exactly {spec.input_names}")
    axes: dict[str, tuple[int, str]] = {}
    for t in spec.inputs:
        shape, dtype = describe(feed[t.name])
        if dtype != t.dtype:
            raise FeedError(f"{spec.name}: input {t.name!r} has dtype {dtype}, expected {t.dtype}; "
                            f"convert with .astype(np.{t.dtype})")
        _check_shape(spec.name, t, tuple(shape), axes)
        if t.bounds is not None and isinstance(feed[t.name], np.ndarray):
            _check_bounds(spec.name, t, feed[t.name])
    for axis, smallest in spec.min_sizes:
        if axis in axes and axes[axis][0] < smallest:
            raise FeedError(f"{spec.name}: axis {axis!r} is {axes[axis][0]} in {axes[axis][1]!r}; this graph "
                            f"needs at least {smallest} (pad the input)")


def _check_bounds(graph: str, t, value: np.ndarray) -> None:
    """Ids outside [low, high) would index past an embedding table inside the backend."""
    low, high = t.bounds
    if value.size and (value.min() < low or value.max() >= high):
        raise FeedError(f"{graph}: input {t.name!r} holds ids in [{value.min()}, {value.max()}]; valid ids are "
                        f"{low}..{high - 1}")


def _check_shape(graph: str, t, shape: tuple, axes: dict) -> None:
    if len(shape) != len(t.shape):
        raise FeedError(f"{graph}: input {t.name!r} has shape {shape}, expected rank {len(t.shape)} {t.shape}")
    for size, dim in zip(shape, t.shape):
        if isinstance(dim, int) and size != dim:
            raise FeedError(f"{graph}: input {t.name!r} has shape {shape}, expected {t.shape}")
        if isinstance(dim, str):
            if size == 0:
                raise FeedError(f"{graph}: input {t.name!r} has an empty {dim!r} axis; it needs at least 1")
            seen = axes.setdefault(dim, (size, t.name))
            if seen[0] != size:
                raise FeedError(f"{graph}: axis {dim!r} is {size} in {t.name!r} but {seen[0]} in {seen[1]!r}")
