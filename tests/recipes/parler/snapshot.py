"""A parler-tts-tiny snapshot as `save_pretrained` writes it, with a word-level T5-style tokenizer (no hub here):
the tests' fixtures and scripts/parler/descript_snapshot.py use it."""


PARLER_WORDS = ("hello world good morning evening everyone how are you today the quick brown fox jumps over lazy dog "
                "a female male speaker voice calm deep fast slow clear recording quality with very high low pitch "
                "and is of in to it this that we they she he reads speaks").split()


def parler_tokenizer(vocab: int):
    """A word-level T5-style fast tokenizer (<pad> 0, </s> 1, <unk> 2, EOS appended) within `vocab` ids."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in PARLER_WORDS + list(".,!?'"):
        words.setdefault(word, len(words))
    assert len(words) <= vocab
    tok = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_parler_snapshot(folder, seed: int, eos_scales: tuple[float, float] = (1.0, 1.0)):
    """parler-tts-tiny's random weights (`seed`), the EOS rows of codebook 0's head and of the others' scaled by
    `eos_scales`, saved with save_pretrained and a tokenizer: what `--model DIR` reads."""
    import torch

    from ttsx.recipes import get_recipe
    from ttsx.recipes.families.parler.reference import build

    recipe = get_recipe("parler-tts-tiny")
    model = build(recipe, seed)
    with torch.no_grad():
        for k, head in enumerate(model.decoder.lm_heads):
            head.weight[recipe.decoder.eos] *= eos_scales[0] if k == 0 else eos_scales[1]
    model.save_pretrained(folder)
    parler_tokenizer(recipe.t5.vocab).save_pretrained(folder)
    return model
