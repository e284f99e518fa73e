"""TensorRT decode steps: KV cache on the GPU in ping-pong buffers, each step shape a CUDA graph.

    prefill ──present.* (fresh device tensors)──┐
                                                 v   copied once into set 0 (device to device)
    decode step:  past = set[s]  ──engine──>  present = set[1 - s]        s flips every step

The exported decode graphs grow the cache by concatenation (present has one more position than
past), so the output can't alias the input: two buffer sets of `block` positions hold it, and a
[B, H, T, D] cache is the contiguous prefix of its set. Per step the host copies the step inputs
(token ids, and positions or masks where the graph takes them) in and the logits out; nothing
else crosses.

CUDA graphs: with a growing cache every step has a new shape, and a graph captured on a TensorRT
context stays valid only while that context keeps the shapes it was captured with (NVIDIA/TensorRT
#3798: one context per captured graph). So each (batch, past length, buffer set) gets a context of
its own, all sharing one scratch buffer (they run one after another on one stream): run once for
the real result, captured, and replayed by every later generation reaching that step. The first
generation at each length pays for the capture.
"""
from __future__ import annotations

import warnings

import numpy as np

from ttsx.errors import FeedError

MAX_CUDA_GRAPHS = 2048  # captured step shapes per decode session; later new shapes run uncaptured


class DecodeSteps:
    """Runs one decode engine step by step for a TensorrtSession."""

    def __init__(self, session, block: int, cuda_graphs: bool):
        import torch

        self.torch, self.session, self.block = torch, session, block  # block: positions of the longest present
        self.pairs = [(pair.past, pair.present) for pair in session.spec.cache]
        self.axis = session.spec.cache[0].axis  # the sequence axis of every cache tensor
        self.step_inputs = session.spec.step_inputs  # token ids, and positions or masks where the graph takes them
        self.sets: list[dict] = []  # two {present name: [B, H, block, D] buffer}
        self.written: tuple[int, int] | None = None  # (set, cache length) the latest step wrote
        self.inputs: dict = {}  # step input name -> device buffer of the profile's largest shape
        self.scratch = None  # TensorRT scratch memory shared by the capture contexts
        self.graphs: dict | None = {} if cuda_graphs else None  # key -> (context, graph, outputs)

    def step(self, feed: dict, host) -> dict:
        """One step: the feed's pasts are our latest presents or a prefill's; outputs as the engine names them."""
        pasts = {p: self.session.on_device(feed[p]) for p, _ in self.pairs}
        if self._ensure(pasts) and self.graphs:
            self.graphs.clear()  # captured graphs point into the buffers just replaced
        source = self._source(pasts)
        batch, length = pasts[self.pairs[0][0]].shape[0], pasts[self.pairs[0][0]].shape[self.axis]
        steps = {name: self._copy_in(name, feed[name]) for name in self.step_inputs}
        key = (batch, length, source)
        if self.graphs is not None and key in self.graphs:
            _, graph, outputs = self.graphs[key]
            graph.replay()
        else:
            inputs = {**steps, **{p: _prefix(self.sets[source][q], pasts[p].shape) for p, q in self.pairs}}
            outputs = self._first_run(key, inputs, 1 - source)
        self.written = (1 - source, length + 1)
        # a replayed graph rewrites its non-cache outputs: hand out copies unless they go to the host now
        presents = {q for _, q in self.pairs}
        return {n: v if n in presents or n in host else v.clone() for n, v in outputs.items()}

    def _copy_in(self, name: str, value):
        """The step input copied into its fixed device buffer (the address a captured graph reads)."""
        if name not in self.inputs:
            spec = next(t for t in self.session.spec.inputs if t.name == name)
            largest = tuple(self.session.profile[name]["max"])
            self.inputs[name] = self.torch.empty(largest, dtype=getattr(self.torch, spec.dtype), device="cuda")
        source = self.torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
        target = _prefix(self.inputs[name], tuple(source.shape))
        target.copy_(source)
        return target

    def _ensure(self, pasts: dict) -> bool:
        """Allocate both buffer sets for this batch; True when (re)allocated."""
        past = pasts[self.pairs[0][0]]
        shape = list(past.shape)
        if self.sets and self.sets[0][self.pairs[0][1]].shape[0] >= shape[0]:
            return False
        shape[self.axis] = self.block
        self.sets = [{q: self.torch.empty(tuple(shape), dtype=past.dtype, device="cuda")
                      for _, q in self.pairs} for _ in range(2)]
        self.written = None
        return True

    def _source(self, pasts: dict) -> int:
        """The set holding the past: ours (0 or 1) if it is the latest step's, or a foreign cache copied to 0."""
        past, present = self.pairs[0]
        fed = pasts[past]
        for k in (0, 1):
            if fed.data_ptr() == self.sets[k][present].data_ptr():
                if (k, fed.shape[self.axis]) != self.written:
                    raise FeedError(f"{self.session.spec.name} was fed a cache from an earlier step; its buffer has "
                                    "been overwritten since. Feed the present.* of the latest run")
                return k
        for p, q in self.pairs:
            _prefix(self.sets[0][q], pasts[p].shape).copy_(pasts[p])
        return 0

    def _outputs(self, context, target: int) -> dict:
        """A new logits tensor (kept with a captured graph); presents as views of set `target`."""
        outputs = {}
        for t in self.session.spec.outputs:
            shape = tuple(context.get_tensor_shape(t.name))
            outputs[t.name] = (_prefix(self.sets[target][t.name], shape) if t.name in self.sets[target]
                               else self.torch.empty(shape, dtype=getattr(self.torch, t.dtype), device="cuda"))
        return outputs

    def _first_run(self, key: tuple, inputs: dict, target: int) -> dict:
        """Run a new step shape; with CUDA graphs on, on a context of its own that is then captured."""
        session = self.session
        allocate = lambda context, _: self._outputs(context, target)  # noqa: E731
        if self.graphs is None or len(self.graphs) >= MAX_CUDA_GRAPHS:
            return session.execute(session._context, inputs, allocate)
        if self.scratch is None:
            self.scratch = self.torch.empty(session.scratch_bytes(), dtype=self.torch.uint8, device="cuda")
        context = session.new_context(self.scratch)
        outputs = session.execute(context, inputs, allocate)  # the real result; also warms the context up
        graph = self._capture(context)
        if graph is not None:
            self.graphs[key] = (context, graph, outputs)
        return outputs

    def _capture(self, context):
        """A CUDA graph of context's enqueue (shapes and addresses as just run), or None if capture fails."""
        graph, stream = self.torch.cuda.CUDAGraph(), self.session.stream
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # torch only warns when a capture comes out empty
                graph.capture_begin()  # on the current stream: the session's (never the default stream)
                try:
                    enqueued = context.execute_async_v3(stream.cuda_stream)
                finally:
                    graph.capture_end()
            if not enqueued:
                raise RuntimeError("execute_async_v3 returned False while capturing")
        except (RuntimeError, UserWarning) as exc:
            warnings.warn(f"{self.session.spec.name}: CUDA graph capture failed ({exc}); decode steps run "
                          "uncaptured from now on")
            self.graphs = None
            return None
        return graph


def _prefix(buffer, shape):
    """The first prod(shape) elements of buffer as a contiguous tensor of `shape` (no copy)."""
    return buffer.view(-1)[: int(np.prod(shape))].view(shape)
