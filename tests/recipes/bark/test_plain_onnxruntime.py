"""The graphs need no ttsx code: plain onnxruntime + a greedy loop reproduce transformers' tokens."""
import numpy as np
import onnxruntime as ort
import pytest
import torch

STEPS = 40
SEMANTIC_VOCAB, SEMANTIC_PAD, TEXT_OFFSET, TEXT_PAD = 10_000, 10_000, 10_048, 129_595
COARSE_PAD, COARSE_INFER, CODEBOOK = 12_048, 12_050, 1024


def plain_greedy(root, stage, prefill_feed, allowed, steps=STEPS):
    """Prefill, then STEPS greedy decode steps; allowed(step) -> (lo, hi) token range."""
    prefill = ort.InferenceSession(str(root / f"{stage}_prefill.onnx"))
    decode = ort.InferenceSession(str(root / f"{stage}_decode.onnx"))
    past_names = [i.name for i in decode.get_inputs()][1:]
    logits, *present = prefill.run(None, prefill_feed)
    tokens = []
    for step in range(steps):
        lo, hi = allowed(step)
        token = lo + np.argmax(logits[:, lo:hi], axis=-1)
        tokens.append(token)
        logits, *present = decode.run(None, {"input_ids": token[:, None], **dict(zip(past_names, present))})
    return np.stack(tokens, 1)


def test_semantic_greedy_tokens_match_generate(tiny_artifact, tiny_reference):
    rng = np.random.default_rng(0)
    raw = np.zeros((2, 256), np.int64)
    mask = np.zeros((2, 256), np.int64)
    raw[0, :11], mask[0, :11] = rng.integers(100, 5000, 11), 1
    raw[1, :40], mask[1, :40] = rng.integers(100, 5000, 40), 1
    text = np.where(mask == 1, raw + TEXT_OFFSET, TEXT_PAD)
    history = np.full((2, 256), SEMANTIC_PAD, np.int64)
    ours = plain_greedy(tiny_artifact, "semantic", {"text_ids": text, "history_ids": history},
                        lambda step: (0, SEMANTIC_VOCAB + 1))  # Bark suppresses every id above EOS
    config = tiny_reference.generation_config.semantic_config
    ref = tiny_reference.semantic.generate(torch.from_numpy(raw), semantic_generation_config=config,
                                           attention_mask=torch.from_numpy(mask), max_new_tokens=STEPS,
                                           do_sample=False).numpy()
    assert ref.shape == (2, STEPS), "EOS fired early; pick other seeds"
    np.testing.assert_array_equal(ours, ref)


def coarse_allowed(step):
    """transformers' AlternatingCodebooksLogitsProcessor: codebook 0 on even steps, ids >= codebook 1 on odd."""
    return (SEMANTIC_VOCAB, SEMANTIC_VOCAB + CODEBOOK) if step % 2 == 0 else (SEMANTIC_VOCAB + CODEBOOK, None)


def test_coarse_greedy_tokens_match_generate(tiny_artifact, tiny_reference):
    semantic = np.random.default_rng(1).integers(0, SEMANTIC_VOCAB, (1, 14))  # -> 42 coarse tokens, one window
    window = np.full((1, 256), COARSE_PAD, np.int64)
    window[:, :14] = semantic
    prompt = np.concatenate([window, [[COARSE_INFER]]], axis=1)
    ours = plain_greedy(tiny_artifact, "coarse", {"input_ids": prompt},
                        coarse_allowed, steps=42)
    gen = tiny_reference.generation_config
    ref = tiny_reference.coarse_acoustics.generate(
        torch.from_numpy(semantic), semantic_generation_config=gen.semantic_config,
        coarse_generation_config=gen.coarse_acoustics_config, codebook_size=CODEBOOK,
        do_sample=False).numpy()
    assert ref.shape == (1, 42)
    np.testing.assert_array_equal(ours, ref)
