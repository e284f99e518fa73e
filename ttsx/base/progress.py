"""Progress for long work: messages as lines, counted work as a tqdm bar on a terminal, plain lines otherwise.

Library functions take any `progress(message)` callable; where they know how much work is left they ask
`counter(progress, what, total)`, which a plain callable answers with nothing more than its messages.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable

Progress = Callable[[str], None]  # what every long-running library function takes: progress(message)


def silent(message: str) -> None:
    """The default progress: says nothing."""


class ConsoleProgress:
    """The CLI's progress sink on stderr (a Progress that also counts)."""

    def __init__(self, stream=None, prefix: str = "ttsx: "):
        self.stream, self.prefix = stream, prefix

    @property
    def _out(self):
        return self.stream or sys.stderr

    def __call__(self, message: str) -> None:
        """One line (written above a bar in progress)."""
        from tqdm import tqdm

        tqdm.write(f"{self.prefix}{message}", file=self._out)

    @contextmanager
    def count(self, what: str, total: int):
        """Yield `advance(message="")`: a bar on a terminal (the message above it); otherwise one line per step,
        `what i/total: message`."""
        if self._out.isatty():
            from tqdm import tqdm

            with tqdm(total=total, desc=f"{self.prefix}{what}", file=self._out, leave=False) as bar:
                def step(message: str = "") -> None:
                    if message:
                        self(message)
                    bar.update(1)

                yield step
            return
        done = [0]

        def advance(message: str = "") -> None:
            done[0] += 1
            self(f"{what} {done[0]}/{total}" + (f": {message}" if message else ""))

        yield advance


@contextmanager
def counter(progress, what: str, total: int):
    """`progress.count(what, total)` when the sink counts; otherwise an advance(message) that passes the message on."""
    if hasattr(progress, "count"):
        with progress.count(what, total) as advance:
            yield advance
    else:
        yield lambda message="": progress(message) if message and progress else None


def quiet_third_party(function):
    """Decorate a ttsx entry point: while it runs, libraries' deprecation notes (FutureWarning, DeprecationWarning,
    transformers' logger warnings) are not shown. The caller's own settings hold outside the call."""
    import functools

    @functools.wraps(function)
    def quiet(*args, **kwargs):
        with third_party_quiet():
            return function(*args, **kwargs)

    return quiet


@contextmanager
def third_party_quiet():
    """The block's third-party deprecation warnings and transformers' logger warnings are dropped."""
    import warnings

    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        hf_logging.set_verbosity_error()
        try:
            yield
        finally:
            hf_logging.set_verbosity(level)
