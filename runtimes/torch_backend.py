"""torch backend: the export wrappers themselves, run eagerly on the reference weights."""
from __future__ import annotations

import numpy as np
import torch

from ttsx.recipes.spec import GraphSpec

from .session import StageSession


class TorchSession(StageSession):
    """One graph's wrapper module (ttsx.exporter.bark_graphs) in eager PyTorch."""

    backend = "torch"

    def __init__(self, module: torch.nn.Module, spec: GraphSpec):
        super().__init__(spec)
        self._module = module.eval()

    @torch.no_grad()
    def _run(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(feed[name])) for name in self.spec.input_names]
        outputs = self._module(*args)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return {name: out.numpy() for name, out in zip(self.spec.output_names, outputs)}
