"""Text in: normalisation, tokenisation, and splitting text longer than one model window."""
from __future__ import annotations

import re
from pathlib import Path

from ttsx.base.errors import TtsxError

SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def normalize(text: str) -> str:
    """Collapse whitespace and strip."""
    return re.sub(r"\s+", " ", text).strip()


class ByteTokenizer:
    """Stand-in for artifacts exported from random weights without a tokenizer: ids from UTF-8 bytes.

    Only for exercising the pipeline: random weights make no speech with any tokenizer. `offset` shifts
    the 256 byte ids into the model's text vocabulary.
    """

    def __init__(self, offset: int = 0):
        self.offset = offset

    def encode(self, text: str) -> list[int]:
        """UTF-8 bytes shifted by `offset`."""
        return [self.offset + b for b in text.encode("utf-8")]


class HfTokenizer:
    """The artifact's Hugging Face tokenizer (its tokenizer/ directory)."""

    def __init__(self, directory: Path):
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(directory))

    def encode(self, text: str) -> list[int]:
        """Token ids without special tokens."""
        return self._tok(text, add_special_tokens=False)["input_ids"]


def split_for_window(text: str, tokenizer, max_tokens: int) -> list[str]:
    """Pieces of at most max_tokens tokens, cut at sentence ends (then at spaces if a sentence is longer)."""
    pieces, current = [], ""
    for unit in _units(text, tokenizer, max_tokens):
        candidate = f"{current} {unit}".strip()
        if current and len(tokenizer.encode(candidate)) > max_tokens:
            pieces.append(current)
            candidate = unit
        current = candidate
    return pieces + ([current] if current else [])


def _units(text: str, tokenizer, max_tokens: int) -> list[str]:
    units = []
    for sentence in SENTENCE_END.split(text):
        if len(tokenizer.encode(sentence)) <= max_tokens:
            units.append(sentence)
            continue
        words = sentence.split(" ")
        for word in words:
            if len(tokenizer.encode(word)) > max_tokens:
                raise TtsxError(f"a single word of {len(word)} characters is longer than one model window "
                                f"({max_tokens} tokens); add spaces or punctuation")
        units.extend(words)
    return units
