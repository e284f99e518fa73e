"""Parler-TTS voices and text in: a voice is a description in words; text is T5 ids.

Parler's decoder is conditioned on a description of the speaker and the recording ("A female speaker
with a calm voice..."), read by its T5 encoder. An artifact carries named presets (voices/NAME.txt, the
descriptions Parler's model card uses); a request's `instructions` (OpenAI's field for how to speak)
gives its own description instead, and its `voice` names a preset, never a path.

A checkpoint's tokenizer (T5's, shared by the description and the transcript, as Parler's examples use
it) is copied into the artifact; random weights have none, and read UTF-8 bytes shifted past T5's three
special ids, with T5's EOS (1) appended as its tokenizer does.
"""
from __future__ import annotations

from pathlib import Path

from ttsx.base.errors import OptionError, TtsxError
from ttsx.base.files import read_regular
from ttsx.exporter.assets import copy_tokenizer, voice_file_name

T5_FILES = ("spiece.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
T5_EOS = 1
BYTE_OFFSET = 3  # T5's pad 0, eos 1, unk 2 come first
MAX_DESCRIPTION_BYTES = 4096
PRESETS = {  # from Parler-TTS's model card and README examples
    "calm-female": "A female speaker delivers a slightly expressive and animated speech with a moderate speed and "
                   "pitch. The recording is of very high quality, with the speaker's voice sounding clear and very "
                   "close up.",
    "jon": "Jon's voice is monotone yet slightly fast in delivery, with a very close recording that almost has no "
           "background noise.",
    "expressive-male": "A male speaker with a low-pitched voice delivers his words at a fast pace in a very "
                       "spacious environment, accompanied by heavy background noise.",
}


def write_tokenizer(source, out_dir: Path) -> str | None:
    """Copy a snapshot's T5 tokenizer into the artifact (None for random weights: byte ids)."""
    if source.directory is None:
        return None
    found = copy_tokenizer(source.directory, out_dir, T5_FILES)
    if found is None:
        raise TtsxError(f"{source.directory} has no T5 tokenizer ({', '.join(T5_FILES)}); save the snapshot with "
                        "its tokenizer (AutoTokenizer.save_pretrained(DIR))")
    return found


def write_voices(out_dir: Path) -> dict[str, str]:
    """The description presets as voices/NAME.txt; {name: file}."""
    voices = {}
    for name, text in PRESETS.items():
        relative = voice_file_name(name, ".txt")
        (out_dir / relative).parent.mkdir(exist_ok=True)
        (out_dir / relative).write_text(text + "\n", encoding="utf-8")
        voices[name] = relative
    return voices


def read_description(path: Path) -> str:
    """A description from a preset's (or a user's) UTF-8 .txt file."""
    try:
        text = read_regular(path, MAX_DESCRIPTION_BYTES, "voice file").decode("utf-8").strip()
    except UnicodeDecodeError:
        raise TtsxError(f"voice file {path} is not UTF-8 text; a Parler-TTS voice is a description in words") from None
    return check_description(text, str(path))


def check_description(text: str, where: str = "instructions") -> str:
    """The description, stripped; OptionError when it is empty."""
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"{where}: the voice description is empty; describe the speaker, e.g. "
                        f"{PRESETS['calm-female'][:60]!r}...")
    return " ".join(text.split())


class T5Text:
    """Text -> T5 ids with EOS: the artifact's tokenizer, or UTF-8 bytes for random weights."""

    def __init__(self, directory: Path | None, vocab: int):
        self.vocab = vocab
        self._tok = None
        if directory is not None:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(str(directory))

    def encode(self, text: str) -> list[int]:
        """Ids as Parler's examples tokenize (special tokens on: T5 appends EOS)."""
        if self._tok is not None:
            return list(self._tok(text)["input_ids"])
        ids = [BYTE_OFFSET + b for b in text.encode("utf-8")] + [T5_EOS]
        if max(ids) >= self.vocab:
            raise TtsxError(f"byte ids need a T5 vocabulary of {BYTE_OFFSET + 256}; this one has {self.vocab}")
        return ids
