"""Teacher forcing for end-to-end parity: record one pipeline's token choices, replay them into another.

    reference pipeline ──record()──> every choice, in order, per stage
    artifact pipeline  ──force(rec)─> each choice: compare ours with the reference's, then take the reference's

Every token choice of every family passes through `observe(ids)` (runtimes.sampling.choose does it,
and so does each family's own choice function). Outside `record`/`force` it returns `ids` as they are.
While forcing, the artifact's pipeline sees the reference's tokens at every step, in every stage, so
each choice is made from the reference's own history and upstream tokens: one near-tie that flips
changes one choice, not every later one. Stages are named by `stage(name)` (Speech.timed sets it).
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from ttsx.base.errors import TtsxError

_TEACHER: ContextVar["Recorder | Forcer | None"] = ContextVar("ttsx_teacher", default=None)
_STAGE: ContextVar[str] = ContextVar("ttsx_stage", default="")


@contextmanager
def stage(name: str):
    """Choices made inside the block belong to stage `name`."""
    token = _STAGE.set(name)
    try:
        yield
    finally:
        _STAGE.reset(token)


def observe(ids: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
    """The ids a pipeline goes on with: `ids` itself, or (while forcing) the reference's choice at this point.

    counted: where the choice is part of the output (broadcast against ids); choices the stage later drops
    (a window's padding) are replaced like the others but not compared.
    """
    teacher = _TEACHER.get()
    return ids if teacher is None else teacher.take(_STAGE.get(), np.asarray(ids), counted)


@dataclass
class Recorder:
    """Every choice of a run, per stage, in the order made."""

    choices: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def take(self, name: str, ids: np.ndarray, counted=None) -> np.ndarray:
        """Keep a copy of the choice; the run goes on with it."""
        self.choices.setdefault(name, []).append(ids.copy())
        return ids


@dataclass
class Forcer:
    """Replays a Recorder's choices and counts, per stage, how many of ours equal them."""

    recorded: dict[str, list[np.ndarray]]
    agreed: dict[str, int] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=dict)
    _next: dict[str, int] = field(default_factory=dict)

    def take(self, name: str, ids: np.ndarray, counted=None) -> np.ndarray:
        """Compare our choice with the reference's at this point of the stage; go on with the reference's."""
        k = self._next.get(name, 0)
        made = self.recorded.get(name, [])
        if k >= len(made) or made[k].shape != ids.shape:
            want = "no more choices" if k >= len(made) else f"shape {made[k].shape}"
            raise TtsxError(f"teacher forcing: stage {name!r} choice {k} has shape {ids.shape} where the reference "
                            f"made {want}; the two pipelines do not run the same steps")
        self._next[name] = k + 1
        counted = np.ones(ids.shape, bool) if counted is None else np.broadcast_to(counted, ids.shape)
        self.agreed[name] = self.agreed.get(name, 0) + int(((ids == made[k]) & counted).sum())
        self.total[name] = self.total.get(name, 0) + int(counted.sum())
        return made[k].copy()

    def shares(self) -> dict[str, tuple[float, int]]:
        """stage -> (share of our choices equal to the reference's, number of choices compared)."""
        unused = {n: len(c) - self._next.get(n, 0) for n, c in self.recorded.items() if len(c) > self._next.get(n, 0)}
        if unused:
            raise TtsxError(f"teacher forcing: the pipeline stopped before the reference's last choices ({unused}); "
                            "the two pipelines do not run the same steps")
        return {n: (self.agreed[n] / self.total[n] if self.total[n] else 1.0, self.total[n]) for n in self.total}


@contextmanager
def record():
    """Yield a Recorder that keeps every token choice made in the block."""
    with _teaching(Recorder()) as recorder:
        yield recorder


@contextmanager
def force(recorded: dict[str, list[np.ndarray]]):
    """Yield a Forcer: inside the block every choice is compared with `recorded`'s and replaced by it."""
    with _teaching(Forcer(recorded)) as forcer:
        yield forcer


@contextmanager
def _teaching(teacher):
    if _TEACHER.get() is not None:
        raise TtsxError("teacher forcing is already active in this context; record and force one run at a time")
    token = _TEACHER.set(teacher)
    try:
        yield teacher
    finally:
        _TEACHER.reset(token)
