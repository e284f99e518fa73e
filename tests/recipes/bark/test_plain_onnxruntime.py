"""The graphs need no ttsx code: plain onnxruntime + a greedy loop reproduce transformers' tokens.

The loop binds each cache OrtValue as both the cache input and the present output (the graph
updates it in place), and feeds the two length inputs: 0 cached and the prompt's length for the
prefill, then one more cached token per step.
"""
import numpy as np
import onnxruntime as ort
import torch

STEPS = 40
SEMANTIC_VOCAB, SEMANTIC_PAD, TEXT_OFFSET, TEXT_PAD, SEMANTIC_INFER = 10_000, 10_000, 10_048, 129_595, 129_599
COARSE_PAD, COARSE_INFER, CODEBOOK = 12_048, 12_050, 1024


def plain_greedy(root, stage, prefill_feed, allowed, steps=STEPS, extra_step_inputs=None):
    """Prefill, then STEPS greedy decode steps; allowed(step) -> (lo, hi) token range."""
    session = ort.InferenceSession(str(root / f"{stage}.onnx"))
    batch, prompt = prefill_feed["input_ids"].shape
    binding = session.io_binding()
    binding.bind_output("logits")  # first: get_outputs() lists outputs in binding order
    for past in (i for i in session.get_inputs() if i.name.startswith("past_key_values.")):
        heads, dim = past.shape[1], past.shape[3]
        cache = ort.OrtValue.ortvalue_from_numpy(np.zeros((batch, heads, prompt + steps, dim), np.float32))
        binding.bind_ortvalue_input(past.name, cache)
        binding.bind_ortvalue_output(past.name.replace("past_key_values", "present"), cache)

    def run(feed, cached, new):
        for name, value in {**feed, "cache_lengths": np.full(batch, cached, np.int32),
                            "lengths": np.full(batch, new, np.int32)}.items():
            binding.bind_cpu_input(name, value)
        session.run_with_iobinding(binding)
        return binding.get_outputs()[0].numpy()

    logits, tokens = run(prefill_feed, 0, prompt), []
    for step in range(steps):
        lo, hi = allowed(step)
        token = lo + np.argmax(logits[:, lo:hi], axis=-1)
        tokens.append(token)
        logits = run({"input_ids": token[:, None], **(extra_step_inputs or {})}, prompt + step, 1)
    return np.stack(tokens, 1)


def test_semantic_greedy_tokens_match_generate(tiny_artifact, tiny_reference):
    rng = np.random.default_rng(0)
    raw = np.zeros((2, 256), np.int64)
    mask = np.zeros((2, 256), np.int64)
    raw[0, :11], mask[0, :11] = rng.integers(100, 5000, 11), 1
    raw[1, :40], mask[1, :40] = rng.integers(100, 5000, 40), 1
    text = np.where(mask == 1, raw + TEXT_OFFSET, TEXT_PAD)
    ids = np.hstack([text, np.full((2, 1), SEMANTIC_INFER)])  # text, then the infer token
    history = np.hstack([np.full((2, 256), SEMANTIC_PAD, np.int64), np.full((2, 1), -1)])  # -1: no history
    ours = plain_greedy(tiny_artifact, "semantic", {"input_ids": ids, "history_ids": history},
                        lambda step: (0, SEMANTIC_VOCAB + 1),  # Bark suppresses every id above EOS
                        extra_step_inputs={"history_ids": np.full((2, 1), -1)})
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
