"""torch backend: the family's export wrappers themselves, run eagerly on the reference weights."""
from __future__ import annotations

import torch

from ttsx.recipes.spec import GraphSpec

from .session import StageSession, host_array


class TorchSession(StageSession):
    """One graph's export wrapper (its kind's `module`) in eager PyTorch; caches stay tensors.

    Attached caches are torch tensors the wrapper writes in place (recipes/kv_attention.py's eager math).
    """

    backend = "torch"
    copies_cache_rows = True

    def __init__(self, module: torch.nn.Module, spec: GraphSpec):
        super().__init__(spec)
        self._module = module.eval()

    def describe(self, value):
        """numpy arrays and torch tensors."""
        if isinstance(value, torch.Tensor):
            return tuple(value.shape), str(value.dtype).removeprefix("torch.")
        return super().describe(value)

    def new_cache(self, batch: int, capacity: int) -> dict:
        """Zeroed torch tensors."""
        return {name: torch.zeros(shape, dtype=getattr(torch, dtype))
                for name, (shape, dtype) in self.cache_shapes(batch, capacity).items()}

    @torch.no_grad()
    def copy_cache_row(self, dst: dict, row: int, src: dict, src_row: int, positions: int) -> None:
        """Tensor rows."""
        for pair in self.spec.cache:
            dst[pair.past][row, :, :positions] = src[pair.past][src_row, :, :positions]

    @torch.no_grad()
    def _run(self, feed: dict, host) -> dict:
        args = [_tensor(feed[name]) for name in self.spec.input_names]
        outputs = self._module(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: out.numpy() if name in host else out for name, out in zip(self.spec.output_names, outputs)}


def _tensor(value) -> torch.Tensor:
    return value if isinstance(value, torch.Tensor) else torch.from_numpy(host_array(value))
