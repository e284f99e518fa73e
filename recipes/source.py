"""Where reference weights come from (a local checkpoint, a hub id, seeded random weights), and their fingerprint."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ttsx.base.errors import SourceError


@dataclass(frozen=True)
class ModelSource:
    """How to obtain the reference model."""

    origin: str  # "random" | "checkpoint" | "hub"
    location: str | None = None  # directory or hub id
    seed: int = 0  # for random weights

    @classmethod
    def parse(cls, model: str | None, random_weights: bool, seed: int, hint: str = "") -> "ModelSource":
        """Interpret the CLI's --model / --random-weights / --seed (`hint`: how to get a checkpoint)."""
        if random_weights and model:
            raise SourceError("give either --model or --random-weights, not both")
        if random_weights:
            return cls("random", seed=seed)
        if not model:
            raise SourceError(f"no model source given: pass --model DIR or --random-weights. {hint}".strip())
        origin = "checkpoint" if Path(model).exists() or model.startswith((".", "/", "~")) else "hub"
        return cls(origin, location=model)

    @property
    def directory(self) -> Path | None:
        """The checkpoint directory, for a local checkpoint."""
        return Path(self.location).expanduser() if self.origin == "checkpoint" else None


def weights_fingerprint(modules: dict) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes) of named modules, in name order."""
    import torch

    digest = hashlib.sha256()
    for prefix, module in sorted(modules.items()):
        for name, tensor in sorted(module.state_dict().items()):
            t = tensor.detach().contiguous().cpu()
            digest.update(f"{prefix}.{name}|{t.dtype}|{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def source_record(source: ModelSource, fingerprint: str) -> dict:
    """The manifest's `source` entry."""
    record = {"kind": source.origin, "random_weights": source.origin == "random", "weights_sha256": fingerprint}
    if source.origin == "random":
        record.update(seed=source.seed, note="seeded random weights: exercises export, parity and speed; "
                      "makes no speech")
    else:
        record["location"] = str(source.directory.resolve()) if source.directory else source.location
    return record


def fill_degenerate_buffers(module, generator) -> list[str]:
    """Give random values to floating buffers a checkpoint fills but random init leaves all zero; their names.

    A random reference must depend on its inputs the way a checkpoint does: a codec's codebooks
    that start at zero, for example, make its audio ignore the codes (transformers leaves EnCodec's
    codebooks at zero until a checkpoint fills them).
    """
    import torch

    filled = []
    persistent = set(module.state_dict())
    for name, buffer in module.named_buffers():
        if name in persistent and buffer.is_floating_point() and buffer.numel() > 1 and not buffer.any():
            with torch.no_grad():
                buffer.copy_(torch.randn(buffer.shape, generator=generator, dtype=buffer.dtype))
            filled.append(name)
    return filled
