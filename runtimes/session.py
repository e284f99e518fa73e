"""The one interface the pipeline talks to: a stage session with `run(feed) -> outputs`.

A session validates names, dtypes and shapes against the graph spec (from the manifest) before the
backend sees anything, so a bad feed is a FeedError naming the tensor, never a crash in a backend.
Feeds may hold numpy arrays or values the same backend made: only outputs named in `host` come
back as numpy.

A graph with an in-place KV cache gets its cache buffers once: `new_cache(batch, capacity)` makes
them in the backend's memory, `attach` binds them (as the cache inputs and, the same buffers, as the
present outputs) for every later run, so a step's feed holds only its small inputs, and only those
are validated per step. Other inputs that hold for a whole generation (a decoder's cross-attention
keys and values) may be attached with the caches: bound once, never fed again.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ttsx.base.errors import FeedError
from ttsx.recipes.spec import GraphSpec


class StageSession(ABC):
    """Context manager over one graph on one backend."""

    backend = "abstract"
    pooled_caches = False  # new_cache hands out the same buffers again: one generation at a time on this session
    copies_cache_rows = False  # copy_cache_row works: rows can join a running batch (StreamPool)
    bound_for = None  # the CausalRunner whose caches are attached now (runners taking turns rebind theirs)

    def __init__(self, spec: GraphSpec):
        self.spec = spec
        self.attached: dict = {}  # cache input name -> backend buffer, bound for every run
        self._attached_checked = False
        self._capacity: int | None = None  # positions of the attached caches
        present = {pair.present for pair in spec.cache}
        self.host_outputs = tuple(n for n in spec.output_names if n not in present)  # what a step reads

    def __enter__(self) -> "StageSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, feed: dict, host: tuple[str, ...] | None = None) -> dict:
        """Validate `feed`, run the graph; outputs in `host` (default: all) come back as numpy."""
        full = {**self.attached, **feed} if self.attached else feed
        if self._attached_checked:
            validate_step(self.spec, feed, self._capacity, self.attached)
        else:
            validate_feed(self.spec, full, self.describe)
            if self.attached:
                pair = self.spec.cache[0]
                self._capacity = self.describe(self.attached[pair.past])[0][pair.axis]
                self._attached_checked = True
        return self._run(full, self.spec.output_names if host is None else host)

    def new_cache(self, batch: int, capacity: int) -> dict:
        """Zeroed cache buffers [batch, heads, capacity, head_dim] for every cache input, in this backend's memory."""
        raise FeedError(f"{self.spec.name}: the {self.backend} backend keeps no in-place caches")

    def attach(self, caches: dict) -> None:
        """Bind `caches` (from new_cache) as the cache inputs and present outputs of every later run; other
        inputs among them are bound as inputs of every later run."""
        self.attached, self._attached_checked = dict(caches), False

    def copy_cache_row(self, dst: dict, row: int, src: dict, src_row: int, positions: int) -> None:
        """Copy the first `positions` cached positions of `src`'s row `src_row` into `dst`'s row `row` (caches from
        new_cache, [batch, heads, capacity, head_dim]): a generation prefilled alone joins a running batch."""
        raise FeedError(f"{self.spec.name}: the {self.backend} backend can't copy cache rows, so rows can't join "
                        "a running batch on it")

    def detach(self) -> None:
        """Stop binding the attached caches (and let them go)."""
        self.attached, self._attached_checked = {}, False

    def cache_shapes(self, batch: int, capacity: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """(shape, dtype) of each cache input at this batch and capacity."""
        shapes = {}
        for pair in self.spec.cache:
            t = next(t for t in self.spec.inputs if t.name == pair.past)
            shape = tuple(batch if d == "batch" else capacity if i == pair.axis else d for i, d in enumerate(t.shape))
            shapes[pair.past] = (shape, t.dtype)
        return shapes

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
    return value.shape, value.dtype.name


def host_array(value: np.ndarray) -> np.ndarray:
    """`value` as a C-contiguous array of the same shape (np.ascontiguousarray would make a 0-d array 1-d)."""
    return np.require(value, requirements="C")


def validate_feed(spec: GraphSpec, feed: dict, describe=describe_numpy, trusted=(), capacity: int | None = None
                  ) -> None:
    """Raise FeedError unless feed has exactly the spec's inputs with matching dtype and shape.

    `trusted` names (caches already checked when they were attached, `capacity` positions) are not
    looked at again.
    """
    names = spec.input_names
    if len(feed) != len(names) or any(n not in feed for n in names):
        missing = [n for n in names if n not in feed]
        extra = [n for n in feed if n not in names]
        raise FeedError(f"{spec.name}: missing inputs {missing}, unexpected inputs {extra}; "
                        f"expected exactly {names}")
    axes: dict[str, tuple[int, str]] = {}
    for t in spec.inputs:
        if t.name in trusted:
            continue
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
    if spec.lengths is not None:
        _check_lengths(spec, feed, describe, capacity)


def validate_step(spec: GraphSpec, feed: dict, capacity: int, attached=()) -> None:
    """The per-step check on attached caches: the small numpy inputs' names, dtypes, ranks and id ranges,
    and that the rows fit the cache (full validation ran when the caches, and any `attached` inputs, were bound)."""
    names = [n for n in spec.step_inputs if n not in attached]
    if len(feed) != len(names) or any(n not in feed for n in names):
        raise FeedError(f"{spec.name}: a step takes exactly {names}; got {sorted(feed)}")
    for t in spec.inputs:
        value = feed.get(t.name)
        if value is None:
            continue
        if not isinstance(value, np.ndarray) or value.dtype != _DTYPES[t.dtype] or value.ndim != len(t.shape):
            validate_feed(spec, {**{n: None for n in attached}, **feed}, trusted=[p.past for p in spec.cache] + list(attached),
                          capacity=capacity)  # names the problem
        if t.bounds is not None and t.name not in (spec.lengths.cached, spec.lengths.new):
            _check_bounds(spec.name, t, value)
    _check_lengths(spec, feed, describe_numpy, capacity)


_DTYPES = {name: np.dtype(name) for name in ("int64", "int32", "float32", "float16", "bool")}


def _check_lengths(spec: GraphSpec, feed: dict, describe, capacity: int | None) -> None:
    """Rows must fit the call and the cache: a prefill from an empty cache, or one token per row."""
    cached, new = feed[spec.lengths.cached], feed[spec.lengths.new]
    positions = describe(feed[spec.positions_input])[0][1]
    if capacity is None:
        capacity = describe(feed[spec.cache[0].past])[0][spec.cache[0].axis]
    if new.min(initial=1) < 1 or new.max(initial=1) > positions:
        raise FeedError(f"{spec.name}: {spec.lengths.new} must be 1..{positions} (the call's positions); got {new}")
    if cached.min(initial=0) < 0 or (cached + new).max(initial=0) > capacity:
        raise FeedError(f"{spec.name}: rows need up to {(cached + new).max()} cache positions; the cache holds "
                        f"{capacity} (allocate a larger cache)")
    if positions > 1 and cached.any() and len(cached) > 1:
        raise FeedError(f"{spec.name}: a call of {positions} positions must start from an empty cache when the batch "
                        "has several rows; feed one token per row after the prefill")


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


class SessionWrapper(StageSession):
    """A session that passes everything to `inner` (subclasses look at the feeds in `_run`)."""

    def __init__(self, inner: StageSession):
        super().__init__(inner.spec)
        self.inner = inner
        self.backend, self.pooled_caches = inner.backend, inner.pooled_caches
        self.copies_cache_rows = inner.copies_cache_rows

    def describe(self, value):
        """As the wrapped backend describes its values."""
        return self.inner.describe(value)

    def new_cache(self, batch: int, capacity: int) -> dict:
        """The wrapped backend's caches."""
        return self.inner.new_cache(batch, capacity)

    def copy_cache_row(self, dst: dict, row: int, src: dict, src_row: int, positions: int) -> None:
        """As the wrapped backend copies."""
        self.inner.copy_cache_row(dst, row, src, src_row, positions)

    def attach(self, caches: dict) -> None:
        """Attach to both: the wrapped session binds them."""
        super().attach(caches)
        self.inner.attach(caches)

    def detach(self) -> None:
        """Detach both."""
        super().detach()
        self.inner.detach()

    def _run(self, feed: dict, host) -> dict:
        return self.inner._run(feed, host)  # with caches attached, the wrapped session uses its own binding

    def close(self) -> None:
        """Close the wrapped session."""
        self.inner.close()
