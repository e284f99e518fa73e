"""Errors ttsx raises on purpose; the CLI prints them without a traceback and exits non-zero."""


class TtsxError(Exception):
    """Base class: the message says what went wrong and how to fix it."""


class SourceError(TtsxError):
    """A model source (checkpoint dir, hub id, random weights) can't be used."""


class ArtifactError(TtsxError):
    """An artifact directory is missing, incomplete, tampered with or of another recipe."""


class FeedError(TtsxError):
    """A stage session was fed tensors with wrong names, dtypes or shapes."""


class OptionError(TtsxError, ValueError):
    """A synthesis or sampling option is out of its range (the message names the option and the range)."""
