"""ChatTTS's text side: its BERT tokenizer with left padding, and a stand-in vocabulary for random weights.

ChatTTS tokenizes each prompt without special tokens and left-pads the batch with id 0; the
attention mask marks the real tokens (ChatTTS's `Tokenizer.encode`). The stand-in vocabulary lets a
random-weights artifact run offline: bert-base-chinese's size (21128 entries: specials, ASCII,
word pieces, CJK ideographs, filler) plus ChatTTS's 50 special tokens at ids 21128..21177. It is
not ChatTTS's vocabulary: only the size and the special tokens' names match.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

SPECIAL_TOKENS = (
    ["[Sasr]", "[Pasr]", "[Easr]", "[Stts]", "[Ptts]", "[Etts]", "[Sbreak]", "[Pbreak]", "[Ebreak]", "[uv_break]",
     "[v_break]", "[lbreak]", "[llbreak]", "[undefine]", "[laugh]", "[spk_emb]", "[empty_spk]", "[music]", "[pure]"]
    + [f"[break_{i}]" for i in range(8)] + [f"[laugh_{i}]" for i in range(3)]
    + [f"[oral_{i}]" for i in range(10)] + [f"[speed_{i}]" for i in range(10)]
)
ASCII = "!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"
CJK_FIRST, CJK_LAST = 0x4E00, 0x9FFF


def write_stand_in_tokenizer(directory: Path, size: int) -> str:
    """Write a BertTokenizerFast with `size` ids (ChatTTS's special tokens last) into directory; its path."""
    from tokenizers import AddedToken
    from transformers import BertTokenizerFast

    base = size - len(SPECIAL_TOKENS)
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += list(ASCII) + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + list("，。、！？：；“”‘’（）…—")
    vocab += [chr(cp) for cp in range(CJK_FIRST, CJK_LAST + 1)][: max(0, base - len(vocab))]
    vocab += [f"[filler{i}]" for i in range(base - len(vocab))]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(directory / "vocab.txt"), do_lower_case=True, tokenize_chinese_chars=True)
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS], special_tokens=True)
    if len(tokenizer) != size:
        raise ValueError(f"stand-in tokenizer has {len(tokenizer)} ids, expected {size}")
    tokenizer.save_pretrained(str(directory))
    return str(directory)


class ChatTTSTokenizer:
    """The artifact's tokenizer with ChatTTS's batch encoding (left padding, id 0) and special ids."""

    def __init__(self, directory: Path):
        from transformers import AutoTokenizer

        self._tok = AutoTokenizer.from_pretrained(str(directory))
        self.size = len(self._tok)
        ids = self._tok.convert_tokens_to_ids
        self.spk_emb, self.break_0, self.eos = ids("[spk_emb]"), ids("[break_0]"), ids("[Ebreak]")

    def encode(self, text: str) -> list[int]:
        """One text's ids, no special tokens added."""
        return self._tok(text, add_special_tokens=False)["input_ids"]

    def encode_batch(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [B, T] int64, attention_mask [B, T] int64), left-padded with 0."""
        rows = [self._tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        width = max(len(r) for r in rows)
        ids, mask = np.zeros((len(rows), width), np.int64), np.zeros((len(rows), width), np.int64)
        for b, row in enumerate(rows):
            if row:
                ids[b, width - len(row):], mask[b, width - len(row):] = row, 1
        return ids, mask

    def count(self, text: str) -> int:
        """Tokens in one text."""
        return len(self.encode(text))

    def decode(self, sequences: list[np.ndarray]) -> list[str]:
        """Ids back to text, special tokens kept (as ChatTTS decodes the refined text)."""
        return self._tok.batch_decode([s.tolist() for s in sequences], skip_special_tokens=False)
