"""Greedy end-to-end parity with transformers' BarkModel.generate (bark-tiny, random weights)."""
import copy

import numpy as np
import pytest
import torch

import ttsx
from ttsx.recipes.families.bark.pipeline import BarkOptions
from ttsx.recipes.families.bark.stages import SemanticOptions
from ttsx.runtimes.sampling import SamplingOptions

PROMPTS = ["Hello world.", "A second, longer sentence, with a comma!", "Three"]
STEPS = 40  # semantic tokens: random weights never emit EOS here, so every text runs to this length
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)  # waveform tolerance (fp32), as the graph parity


@pytest.fixture(scope="module")
def voice_file(tmp_path_factory):
    rng = np.random.default_rng(5)
    path = tmp_path_factory.mktemp("voice") / "speaker.npz"
    np.savez(path, semantic_prompt=rng.integers(0, 10_000, 300), coarse_prompt=rng.integers(0, 1024, (2, 700)),
             fine_prompt=rng.integers(0, 1024, (8, 700)))
    return path


def transformers_generate(model, tokenizer, texts, voice):
    """BarkModel.generate(do_sample=False) plus the tokens of each stage, as generate computes them."""
    ids, mask = np.zeros((len(texts), 256), np.int64), np.zeros((len(texts), 256), np.int64)
    for b, text in enumerate(texts):
        tokens = tokenizer.encode(text)
        ids[b, : len(tokens)], mask[b, : len(tokens)] = tokens, 1
    ids, mask = torch.from_numpy(ids), torch.from_numpy(mask)
    history = None if voice is None else {k: torch.from_numpy(v) for k, v in np.load(voice).items()}
    gen = model.generation_config
    configs = dict(semantic_generation_config=gen.semantic_config, coarse_generation_config=gen.coarse_acoustics_config)
    semantic = model.semantic.generate(ids, attention_mask=mask, history_prompt=history, do_sample=False,
                                       max_new_tokens=STEPS, semantic_generation_config=gen.semantic_config)
    coarse = model.coarse_acoustics.generate(semantic.clone(), history_prompt=history, codebook_size=1024,
                                             do_sample=False, **configs)
    fine = model.fine_acoustics.generate(coarse, history_prompt=history, codebook_size=1024,
                                         fine_generation_config=gen.fine_acoustics_config, **configs)
    model.generation_config = copy.deepcopy(gen)
    for name in ("semantic_config", "coarse_acoustics_config", "fine_acoustics_config"):  # generate wants dicts
        setattr(model.generation_config, name, getattr(gen, name).to_dict())
    try:
        audio = model.generate(ids, attention_mask=mask, history_prompt=history, do_sample=False,
                               semantic_max_new_tokens=STEPS)
    finally:
        model.generation_config = gen
    return semantic.numpy(), coarse.numpy(), fine.numpy(), audio.numpy()


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
@pytest.mark.parametrize("texts", [PROMPTS[:1], PROMPTS], ids=["batch1", "batch3"])
@pytest.mark.parametrize("with_voice", [False, True], ids=["no-voice", "voice"])
def test_greedy_pipeline_matches_transformers_generate(tiny_artifact, tiny_reference, voice_file, backend, texts,
                                                        with_voice):
    voice = voice_file if with_voice else None
    with ttsx.load(tiny_artifact, backend=backend) as pipeline:
        speech = pipeline(texts, voice=voice, options=BarkOptions.greedy(STEPS))
        semantic, coarse, fine, audio = transformers_generate(tiny_reference, pipeline.tokenizer, texts, voice)
    assert semantic.shape == (len(texts), STEPS), "EOS fired: this test needs equal lengths"
    np.testing.assert_array_equal(np.stack(speech.semantic), semantic)
    np.testing.assert_array_equal(np.stack(speech.coarse), coarse)
    np.testing.assert_array_equal(np.stack(speech.fine), fine)
    np.testing.assert_allclose(np.stack(speech.audio), audio, **WAVE_TOL)
    assert speech.sample_rate == 24_000


def test_batch_equals_each_text_alone(tiny_artifact):
    options = BarkOptions.greedy(24)
    with ttsx.load(tiny_artifact) as pipeline:
        together = pipeline(PROMPTS, options=options)
        alone = [pipeline(text, options=options) for text in PROMPTS]
    for i, solo in enumerate(alone):
        np.testing.assert_array_equal(together.fine[i], solo.fine[0])
        np.testing.assert_allclose(together.audio[i], solo.audio[0], atol=1e-6)


def test_seeded_sampling_is_reproducible(tiny_artifact):
    def options(seed):
        return BarkOptions(semantic=SemanticOptions(SamplingOptions(temperature=0.7, top_k=50, top_p=0.9),
                                                          max_new_tokens=16), seed=seed)

    with ttsx.load(tiny_artifact) as pipeline:
        first, second, other = (pipeline("Sampling, seeded.", options=options(s)) for s in (11, 11, 12))
    np.testing.assert_array_equal(first.audio[0], second.audio[0])
    assert not np.array_equal(first.semantic[0], other.semantic[0])
