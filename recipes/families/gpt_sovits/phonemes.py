"""Text to GPT-SoVITS v2 phoneme ids: upstream's front end when the checkout has it, phoneme symbols otherwise.

GPT-SoVITS reads phonemes (text/symbols2.py's 732 symbols), made from text by upstream's front end
(`text.cleaner.clean_text`: g2p per language, with its own dictionaries and models). ttsx uses that
front end when `GPT_SOVITS_HOME` has it (`text/cleaner.py`); without it, a text is read as phoneme
symbols separated by spaces ("HH AH0 L OW1 ."), which every checkout's table names. The artifact keeps
the symbol table (tokenizer/symbols.json), so phoneme input needs no checkout.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ttsx.base.errors import TtsxError

SYMBOLS_FILE = "symbols.json"
_NOT_LOADED = object()  # Phonemizer._front_end before the first plain text
SENTENCE_END = (".", "!", "?")
# Held-out phoneme texts (English ARPAbet, upstream's own symbols): calibration and agreement runs.
CALIBRATION = (
    "DH AH0 K W IH1 K B R AW1 N F AA1 K S JH AH1 M P S OW1 V ER0 DH AH0 L EY1 Z IY0 D AO1 G .",
    "IH1 Z DH IH1 S DH AH0 R IY1 L L AY1 F ? IH1 Z DH IH1 S JH AH1 S T F AE1 N T AH0 S IY0 ?",
    "N AH1 M B ER0 Z L AY1 K TH R IY1 , F AO1 R T IY0 T UW1 , AA1 R R EH1 D AH0 L AW1 D , T UW1 !",
    "IH0 N DH AH0 B IH0 G IH1 N IH0 NG DH AH0 Y UW1 N AH0 V ER2 S W AA1 Z K R IY0 EY1 T IH0 D .",
)
AGREEMENT = ("G UH1 D IY1 V N IH0 NG , AH0 N D W EH1 L K AH0 M .", "K AE1 N Y UW1 HH IH1 R DH AH0 M Y UW1 Z IH0 K ?")
BENCH = (  # bench.BENCH_PROMPTS's sentences in ARPAbet: different lengths
    "DH AH0 K W IH1 K B R AW1 N F AA1 K S JH AH1 M P S OW1 V ER0 DH AH0 L EY1 Z IY0 D AO1 G , DH EH1 N R EH1 S T S "
    "IH0 N DH AH0 SH EY1 D AH1 V AE1 N OW1 L D OW1 K T R IY1 .",
    "G UH1 D M AO1 R N IH0 NG .",
    "P L IY1 Z R IH0 M EH1 M B ER0 T UW1 B R IH1 NG DH AH0 B L UW1 F OW1 L D ER0 , T UW1 P EH1 N S AH0 L Z AH0 N D "
    "Y AO1 R N OW1 T S T UW1 TH ER1 Z D EY0 Z M IY1 T IH0 NG .",
    "IH1 T R EY1 N D AO1 L N AY1 T , B AY1 D AO1 N DH AH0 R IH1 V ER0 HH AE1 D R IH1 Z AH0 N OW1 V ER0 DH AH0 L OW1 "
    "ER0 R OW1 D .",
)
HELD_OUT = (
    "DH AH0 T R EY1 N T UW1 DH AH0 K OW1 S T L IY1 V Z AE1 T S EH1 V AH0 N .",
    "P L IY1 Z K L OW1 Z DH AH0 W IH1 N D OW0 .",
    "N OW1 B AA2 D IY0 IH0 K S P EH1 K T IH0 D DH IH1 S !",
    "W IY1 W IH1 L M IY1 T AH0 G EH1 N .",
    "HH AW1 M EH1 N IY0 AE1 P AH0 L Z ?",
    "IH1 T R EY1 N D F AO1 R TH R IY1 D EY1 Z .",
)


def write_symbols(symbols: list[str], out_dir: Path) -> str:
    """The checkout's symbol table -> out_dir/tokenizer/symbols.json; the relative folder."""
    (out_dir / "tokenizer").mkdir(exist_ok=True)
    (out_dir / "tokenizer" / SYMBOLS_FILE).write_text(json.dumps(list(symbols), ensure_ascii=False))
    return "tokenizer"


class Phonemizer:
    """text -> phoneme ids [X]: phoneme symbols as written, or upstream's front end for plain text."""

    def __init__(self, symbols_dir: Path, language: str = "en"):
        symbols = json.loads((symbols_dir / SYMBOLS_FILE).read_text())
        self.ids = {s: i for i, s in enumerate(symbols)}
        self.symbols = symbols
        self.language = language
        self._front_end = _NOT_LOADED
        self.front_end_home = ""  # the checkout whose front end phonemizes plain text, or why there is none

    def symbols_of(self, text: str) -> list[str] | None:
        """The text's phoneme symbols when it is written in them, else None."""
        tokens = text.split()
        return tokens if tokens and all(t in self.ids for t in tokens) else None

    def encode(self, text: str) -> list[int]:
        """Phoneme ids of a text (symbols, or upstream's front end); TtsxError saying how when neither can."""
        return [self.ids[s] for s in self.phonemize(text)[0]]

    def phonemize(self, text: str) -> tuple[list[str], bool]:
        """(the text's phoneme symbols, whether upstream's front end made them rather than the text's own)."""
        symbols = self.symbols_of(text)
        return (symbols, False) if symbols is not None else (self._clean(text), True)

    def _clean(self, text: str) -> list[str]:
        if self._front_end is _NOT_LOADED:  # loaded (or found missing) once
            self._front_end, self.front_end_home = _load_front_end()
        if self._front_end is None:
            raise TtsxError(
                f"{text[:40]!r} is not GPT-SoVITS phoneme symbols, and upstream's text front end is not available "
                f"({self.front_end_home}); write the text as phoneme symbols separated by spaces (\"HH AH0 L OW1 .\", "
                "see the artifact's tokenizer/symbols.json) or point GPT_SOVITS_HOME at a full checkout with its "
                "front end's packages installed (for English: g2p_en, wordsegment and nltk's data)")
        try:  # clean_text imports its language's module (and that module its g2p packages and data) on first use
            phones, _, _ = self._front_end(text, self.language, "v2")
        except ImportError as error:
            raise TtsxError(f"upstream's {self.language!r} front end at {self.front_end_home} needs a package that "
                            f"is not installed ({error}); install what its requirements.txt lists for it (for "
                            "English: g2p_en, wordsegment, nltk), or write the text as phoneme symbols") from None
        except Exception as error:  # nltk's LookupError for missing data, a g2p failure on this text
            first = next((line.strip() for line in str(error).splitlines() if any(c.isalpha() for c in line)), "")
            raise TtsxError(f"upstream's {self.language!r} front end at {self.front_end_home} failed on "
                            f"{text[:40]!r} ({type(error).__name__}: {first}); fix its setup (nltk's data for "
                            "English), or write the text as phoneme symbols") from None
        unknown = [p for p in phones if p not in self.ids]
        if unknown:
            raise TtsxError(f"upstream's front end gave symbols this artifact's table lacks ({unknown[:5]}); "
                            "the checkout and the artifact disagree on the v2 symbols")
        return phones


def split_phonemes(symbols: list[str], window: int) -> list[list[str]]:
    """Pieces of at most `window` symbols, cut after sentence-end symbols (then anywhere, if one is longer)."""
    pieces, current, sentence = [], [], []
    for s in symbols + [None]:
        if s is not None:
            sentence.append(s)
        if s is None or s in SENTENCE_END:
            while len(sentence) > window:
                if current:
                    pieces.append(current)
                    current = []
                pieces.append(sentence[:window])
                sentence = sentence[window:]
            if len(current) + len(sentence) > window:
                pieces.append(current)
                current = []
            current, sentence = current + sentence, []
    return [p for p in pieces + [current] if p]


def _load_front_end():
    """(upstream's clean_text, the checkout it came from), or (None, why it is not available).

    Checkouts import their text package as `text` (from GPT_SoVITS/, as the model code does) or, in newer
    ones, as `GPT_SoVITS.text` (from the checkout's root); both are tried."""
    import sys

    from .reference import HOME_VARIABLE, import_upstream, upstream_home

    try:
        code = upstream_home()
    except Exception:  # no checkout
        home = os.environ.get(HOME_VARIABLE)
        return None, f"{HOME_VARIABLE}={home} holds no GPT-SoVITS checkout" if home else f"{HOME_VARIABLE} is not set"
    if not (code / "text" / "cleaner.py").is_file():
        return None, f"the checkout {code.parent} has no GPT_SoVITS/text/cleaner.py"
    try:
        import_upstream()
        from text.cleaner import clean_text
        return clean_text, str(code.parent)
    except Exception as error:  # the other import style, or the front end's packages (g2p_en, ...) are missing
        first = error
    try:
        if str(code.parent) not in sys.path:
            sys.path.insert(0, str(code.parent))
        from GPT_SoVITS.text.cleaner import clean_text
        return clean_text, str(code.parent)
    except Exception:
        return None, f"importing {code / 'text' / 'cleaner.py'} failed: {type(first).__name__}: {first}"

