"""End-to-end parity with parler_tts's own generate (parler-tts-tiny, patched for transformers 5).

generate as Parler's examples call it: description ids and mask, prompt (transcript) ids and mask,
do_sample=False, max_new_tokens. Its codes are read where it hands them to the codec (frames holding
BOS/EOS/PAD dropped, as it drops them), its audio as it returns it.
"""
import numpy as np
import pytest
import torch

import ttsx
from ttsx.base.errors import OptionError
from ttsx.recipes.families.parler.delay import EosRule, warp
from ttsx.runtimes.pipeline import SynthesisOptions

TEXTS = ["Hello world, how are you today?", "Good morning."]
DESCRIPTION = "A female speaker with a calm voice and very clear recording quality."
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)


def generate(model, pipeline, text: str, description: str, max_new_tokens: int, **kwargs):
    """(codes the codec got [9, T], audio) of parler_tts's generate on one text."""
    desc = torch.tensor([pipeline.text.encode(description)])
    prompt = torch.tensor([pipeline.text.encode(text)])
    seen = []
    decode = model.audio_encoder.decode

    def spy(*args, **kw):
        seen.append(kw["audio_codes"].clone())
        return decode(*args, **kw)

    model.audio_encoder.decode = spy
    try:
        with torch.no_grad():
            audio = model.generate(input_ids=desc, attention_mask=torch.ones_like(desc), prompt_input_ids=prompt,
                                   prompt_attention_mask=torch.ones_like(prompt), max_new_tokens=max_new_tokens,
                                   **kwargs)
    finally:
        model.audio_encoder.decode = decode
    codes = seen[0][0].numpy() if seen else np.zeros((9, 0), np.int64)
    return codes, audio.reshape(-1).numpy()


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_greedy_equals_generate_with_eos_batched(parler_snapshot_artifact, parler_snapshot_reference, backend):
    """Token for token (and the waveform) equal to generate(do_sample=False), two texts in one batch that end at
    different steps (every codebook emitting EOS, one after the other)."""
    options = SynthesisOptions(greedy=True, batch_size=2, max_tokens=300, instructions=DESCRIPTION)
    with ttsx.load(parler_snapshot_artifact, backend=backend) as pipeline:
        speech = pipeline(TEXTS, options=options)
        assert speech.steps["decoder"] < 300  # both rows ended before the cap
        assert all(c.shape[1] > 10 for c in speech.decoder)
        for i, text in enumerate(TEXTS):
            codes, audio = generate(parler_snapshot_reference, pipeline, text, DESCRIPTION, 300, do_sample=False)
            np.testing.assert_array_equal(speech.decoder[i], codes)
            np.testing.assert_allclose(speech.audio[i], audio, **WAVE_TOL)
        assert speech.decoder[0].shape != speech.decoder[1].shape


def generated_codes(model, pipeline, text: str, description: str, max_new_tokens: int) -> np.ndarray:
    """generate's raw ids (its _sample's output), undelayed by parler's own build_delay_pattern_mask and
    apply_delay_pattern_mask as generate does, frames holding ids >= the codebook size dropped as its
    per-sample decode drops them. (Random weights emit ids 1026..1087, which nothing guards: generate's
    batch decode would hand them to the codec, which fails; ttsx drops those frames too.)"""
    from parler_tts.modeling_parler_tts import apply_delay_pattern_mask, build_delay_pattern_mask

    desc = torch.tensor([pipeline.text.encode(description)])
    prompt = torch.tensor([pipeline.text.encode(text)])
    raw, sample = [], model._sample

    def spy(*args, **kwargs):
        out = sample(*args, **kwargs)
        raw.append(out.clone())
        raise StopIteration  # the ids are what is compared; the codec is not run on them

    model._sample = spy
    try:
        with torch.no_grad(), pytest.raises(StopIteration):
            model.generate(input_ids=desc, attention_mask=torch.ones_like(desc), prompt_input_ids=prompt,
                           prompt_attention_mask=torch.ones_like(prompt), max_new_tokens=max_new_tokens,
                           do_sample=False)
    finally:
        model._sample = sample
    d = pipeline.recipe.decoder
    start = torch.full((d.codebooks, 1), d.bos)
    _, pattern = build_delay_pattern_mask(start, d.bos, d.pad, max_new_tokens + 1, d.codebooks)
    ids = apply_delay_pattern_mask(raw[0], pattern)
    _, mask = build_delay_pattern_mask(start, d.bos, d.pad, ids.shape[1], d.codebooks)
    codes = ids[(mask != d.bos) & (mask != d.pad)].reshape(d.codebooks, -1)
    return codes[:, (codes >= pipeline.recipe.dac.codebook_size).sum(0) == 0].numpy()


def test_greedy_equals_generate_at_the_cap(parler_artifact, parler_reference):
    """Without EOS (random weights) both run to max_new_tokens: the delay pattern's closing PAD columns and the
    dropped frames as generate makes them; the audio is the codec's on those frames."""
    with ttsx.load(parler_artifact) as pipeline:
        for tokens in (17, 40):
            speech = pipeline(TEXTS[1], options=SynthesisOptions(greedy=True, max_tokens=tokens))
            codes = generated_codes(parler_reference, pipeline, TEXTS[1], pipeline.load_voice("calm-female"), tokens)
            np.testing.assert_array_equal(speech.decoder[0], codes)
            assert speech.steps["decoder"] == tokens and codes.shape[1] > 0
            with torch.no_grad():
                audio = parler_reference.audio_encoder.decode(audio_codes=torch.from_numpy(codes)[None]).audio_values
            np.testing.assert_allclose(speech.audio[0], audio.reshape(-1).numpy(), **WAVE_TOL)


def test_the_description_moves_the_codes_and_the_audio(parler_artifact):
    """Random weights could leave cross-attention inert: another description changes codes and waveform."""
    with ttsx.load(parler_artifact) as pipeline:
        a, b = (pipeline(TEXTS[0], options=SynthesisOptions(greedy=True, max_tokens=60, instructions=d))
                for d in (DESCRIPTION, "A deep male voice, fast, with heavy background noise."))
        preset = pipeline(TEXTS[0], voice="jon", options=SynthesisOptions(greedy=True, max_tokens=60))
    assert not np.array_equal(a.decoder[0], b.decoder[0]) and not np.array_equal(a.decoder[0], preset.decoder[0])
    assert a.audio[0].shape != b.audio[0].shape or not np.allclose(a.audio[0], b.audio[0], atol=1e-3)


def test_seeded_sampling_is_the_same_alone_and_batched(parler_snapshot_artifact):
    """Parler's default sampling (top_k 50), seeded: each text's codes and audio alone equal them in a batch."""
    options = SynthesisOptions(seed=5, max_tokens=120, instructions=DESCRIPTION)
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        together = pipeline(TEXTS, options=SynthesisOptions(**{**options.__dict__, "batch_size": 2}))
        for i, text in enumerate(TEXTS):
            alone = pipeline(text, options=options)
            np.testing.assert_array_equal(alone.decoder[0], together.decoder[i])
            np.testing.assert_allclose(alone.audio[0], together.audio[i], atol=1e-5)
        other = pipeline(TEXTS[0], options=SynthesisOptions(**{**options.__dict__, "seed": 6}))
    assert not np.array_equal(other.decoder[0], together.decoder[0])


def test_the_warpers_equal_generate_s():
    """Temperature, top-k (ties kept) and top-p as transformers' warpers compute them, in generate's order."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    rng = np.random.default_rng(0)
    x = rng.standard_normal((18, 1088)).astype(np.float32)
    x[:, 5] = x[:, 6]  # a tie
    for temperature, top_k, top_p in ((1.0, 50, 1.0), (0.7, 5, 1.0), (1.3, 50, 0.9), (0.9, 1088, 0.5)):
        t = torch.from_numpy(x.copy())
        for warper in (TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k), TopPLogitsWarper(top_p)):
            t = warper(None, t)
        ours = warp(x, temperature, top_k, top_p)
        np.testing.assert_array_equal(np.isinf(ours), torch.isinf(t).numpy())
        np.testing.assert_allclose(ours[~np.isinf(ours)], t.numpy()[~np.isinf(ours)], rtol=1e-6)


def test_the_eos_rule_equals_parler_s_logits_processor():
    """ParlerTTSLogitsProcessor on random histories (EOS frequent) masks what EosRule masks, step by step."""
    from parler_tts.logits_processors import ParlerTTSLogitsProcessor

    rng = np.random.default_rng(1)
    batch, books, vocab, eos = 3, 9, 1088, 1024
    theirs = ParlerTTSLogitsProcessor(eos, books, batch)
    ours = EosRule(batch, books, eos)
    history = torch.full((batch * books, 1), 1025)
    for _ in range(40):
        logits = rng.standard_normal((batch, books, vocab)).astype(np.float32)
        expected = theirs(history, torch.from_numpy(logits.reshape(batch * books, vocab).copy()))
        masked = ours.mask(logits)
        np.testing.assert_array_equal(np.isinf(masked.reshape(batch * books, vocab)), torch.isinf(expected).numpy())
        raw = np.where(rng.random((batch, books)) < 0.3, eos, rng.integers(0, 1024, (batch, books)))
        raw = np.where(np.isinf(masked[..., eos]) & (raw == eos), 7, raw)  # EOS only where allowed
        raw = ours.finish(raw)
        history = torch.cat([history, torch.from_numpy(raw.reshape(-1, 1))], 1)
    assert ours.done.any()


def test_too_few_steps_and_an_empty_description_are_refused(parler_artifact):
    with ttsx.load(parler_artifact) as pipeline:
        with pytest.raises(OptionError, match="delay pattern over 9 codebooks needs at least 17 decoder steps"):
            pipeline("Hi.", options=SynthesisOptions(max_tokens=16))
        with pytest.raises(OptionError, match="the voice description is empty"):
            pipeline("Hi.", options=SynthesisOptions(instructions="   "))
