"""torch-compiled backend: the family's export wrappers over a static in-place cache, compiled by torch.compile.

    kind.module(kv_cache="tensorrt")   the static-cache math: each call scatters its keys and values into a
                                       fixed-capacity buffer (in place) and attends over the whole buffer
                                       under a mask, so every decode step has the same shapes
    torch.compile(dynamic=False)       causal graphs: one compiled graph per (batch, positions bucket);
                                       a prefill's positions are right-padded up to PREFILL_BUCKETS (rows
                                       carry their real lengths, so pads change nothing a caller reads)
    torch.compile(dynamic=True)        other graphs (non-causal, any length): one graph with symbolic sizes

`compiled_graphs()` counts the graphs torch.compile has made in this process; `ttsx bench` fails a
run in which it grows after the warm-up (a recompile in the timed part). On a CPU the sampled ids are
already on the host; on a GPU this backend would return only the sampled ids per step (not done: no GPU here).
"""
from __future__ import annotations

import numpy as np
import torch

from ttsx.recipes.spec import GraphSpec

from .torch_backend import TorchSession, _tensor

PREFILL_BUCKETS = (16, 64, 256, 1024, 4096)  # positions of a padded prefill


def compiled_graphs() -> int:
    """Graphs torch.compile has compiled in this process (grows on every compile and recompile)."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


class CompiledTorchSession(TorchSession):
    """A TorchSession whose module runs through torch.compile, with a prefill's positions padded to a bucket."""

    backend = "torch-compiled"

    def __init__(self, module: torch.nn.Module, spec: GraphSpec):
        super().__init__(module, spec)
        causal = spec.positions_input is not None
        _allow_buckets()
        self._call = torch.compile(self._module, dynamic=not causal, fullgraph=causal)
        self._causal = causal
        self._padded = _positional(spec) if causal else (set(), set())

    @torch.no_grad()
    def _run(self, feed: dict, host) -> dict:
        positions = _length(feed[self.spec.positions_input], 1) if self._causal else 1
        bucket = self._bucket(feed, positions) if positions > 1 else positions
        args = [_tensor(_pad(feed[n], bucket) if n in self._padded[0] else feed[n]) for n in self.spec.input_names]
        outputs = self._call(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        result = {}
        for name, out in zip(self.spec.output_names, outputs):
            if name in self._padded[1]:
                out = out[:, :positions]
            result[name] = out.numpy() if name in host else out
        return result

    def _bucket(self, feed: dict, positions: int) -> int:
        """The smallest bucket holding `positions` whose pads still fit the cache (they are written there too)."""
        pair, lengths = self.spec.cache[0], self.spec.lengths
        room = _length(feed[pair.past], pair.axis) - int(np.max(np.asarray(feed[lengths.cached])))
        return next((b for b in PREFILL_BUCKETS if positions <= b <= room), positions)


RECOMPILE_LIMIT = 64  # graphs per wrapper class: (batch sizes) x (buckets), for every stage sharing the class


def _allow_buckets() -> None:
    """Let Dynamo keep one graph per (batch, bucket): its default (8 per code object) is shared by every
    stage whose wrapper has the same forward."""
    import torch._dynamo

    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    config.accumulated_recompile_limit = max(config.accumulated_recompile_limit, 4 * RECOMPILE_LIMIT)


def _positional(spec: GraphSpec) -> tuple[set[str], set[str]]:
    """Inputs and outputs whose axis 1 is the positions axis of spec.positions_input."""
    axis = next(t for t in spec.inputs if t.name == spec.positions_input).shape[1]
    pick = lambda ts: {t.name for t in ts if len(t.shape) > 1 and t.shape[1] == axis}  # noqa: E731
    return pick(spec.inputs), pick(spec.outputs)




def _length(value, axis: int) -> int:
    return int(value.shape[axis])


def _pad(value, positions: int):
    """Right-pad axis 1 to `positions` with zeros (ids 0: any valid id; the rows' lengths exclude them)."""
    have = _length(value, 1)
    if have == positions:
        return value
    if isinstance(value, torch.Tensor):
        return torch.nn.functional.pad(value, (0, 0) * (value.dim() - 2) + (0, positions - have))
    widths = [(0, 0)] * np.ndim(value)
    widths[1] = (0, positions - have)
    return np.pad(np.asarray(value), widths)
