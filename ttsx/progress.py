"""Progress for long work: messages as lines, counted work as a tqdm bar on a terminal, plain lines otherwise.

Library functions take any `progress(message)` callable; where they know how much work is left they ask
`counter(progress, what, total)`, which a plain callable answers with nothing more than its messages.
"""
from __future__ import annotations

import sys
from contextlib import contextmanager


class Progress:
    """The CLI's progress sink on stderr."""

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
        """Yield `advance()`: a bar on a terminal; a `what i/total` line per step otherwise."""
        if self._out.isatty():
            from tqdm import tqdm

            with tqdm(total=total, desc=f"{self.prefix}{what}", file=self._out, leave=False) as bar:
                yield lambda: bar.update(1)
            return
        done = [0]

        def advance() -> None:
            done[0] += 1
            self(f"{what} {done[0]}/{total}")

        yield advance


@contextmanager
def counter(progress, what: str, total: int):
    """`progress.count(what, total)` when the sink counts; otherwise an advance() that does nothing."""
    if hasattr(progress, "count"):
        with progress.count(what, total) as advance:
            yield advance
    else:
        yield lambda: None
