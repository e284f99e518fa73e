"""Greedy end-to-end parity with ChatTTS's own Chat.infer (chattts-tiny, random weights).

ChatTTS has no greedy flag: at temperature 1e-8 its multinomial draw is the argmax of the
processed logits (the repetition penalty still applies), which is what ttsx's greedy does.
"""
from dataclasses import replace

import numpy as np
import pytest
import torch

import ttsx
from ttsx.recipes.families.chattts.pipeline import ChatTTSOptions
from ttsx.recipes.families.chattts.reference import import_chattts
from ttsx.runtimes.pipeline import SynthesisOptions

TEXTS = ["Hello from ttsx, a longer sentence here.", "你好，世界！"]
STEPS, REFINE_STEPS = 40, 24
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)
GREEDY_T = 1e-8


class Spy:
    """Records what Chat.infer generates (ids per pass) and the waveforms before its sample stripping."""

    def __init__(self, chat):
        self.passes, self.waves = [], []
        generate, decode = chat.gpt.generate, chat._decode_to_wavs

        def spy_generate(*args, **kwargs):
            for result in generate(*args, **kwargs):
                self.passes.append([ids.clone().numpy() for ids in result.ids])
                yield result

        def spy_decode(*args, **kwargs):
            self.waves.append(decode(*args, **kwargs).copy())
            return self.waves[-1]

        chat.gpt.generate, chat._decode_to_wavs = spy_generate, spy_decode


def chattts_infer(chat, speaker: str, refine: bool, use_decoder: bool = True) -> Spy:
    Chat, spy = import_chattts().Chat, Spy(chat)
    chat.infer(list(TEXTS), skip_refine_text=not refine, split_text=False, use_decoder=use_decoder,
               params_refine_text=Chat.RefineTextParams(temperature=GREEDY_T, manual_seed=0,
                                                        max_new_token=REFINE_STEPS, show_tqdm=False),
               params_infer_code=Chat.InferCodeParams(temperature=GREEDY_T, manual_seed=0, spk_emb=speaker,
                                                      max_new_token=STEPS, show_tqdm=False))
    chat.gpt.generate = type(chat.gpt).generate.__get__(chat.gpt)  # undo the spies
    del chat._decode_to_wavs
    return spy


def greedy_options(refine: bool, use_decoder: bool = True) -> ChatTTSOptions:
    options = ChatTTSOptions.from_synthesis(SynthesisOptions(greedy=True, max_tokens=STEPS), STEPS)
    return replace(options, refine=replace(options.refine, max_new_tokens=REFINE_STEPS) if refine else None,
                   use_decoder=use_decoder)


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
@pytest.mark.parametrize("refine", [False, True], ids=["codes", "refine+codes"])
def test_greedy_pipeline_matches_chat_infer(chattts_artifact, chattts_reference, backend, refine):
    spk = np.load(chattts_artifact / "voices" / "seed-0.npz")["spk_emb"]
    spy = chattts_infer(chattts_reference, chattts_reference.speaker._encode(torch.from_numpy(spk)), refine)
    with ttsx.load(chattts_artifact, backend=backend) as pipeline:
        speech = pipeline(list(TEXTS), voice="seed-0", options=greedy_options(refine))
    if refine:
        for ours, ref in zip(speech.tokens["refine"], spy.passes[0]):
            np.testing.assert_array_equal(ours, ref)
    for ours, ref in zip(speech.tokens["code"], spy.passes[-1]):
        assert ref.shape == (STEPS, 4), "EOS fired: this test needs rows of equal length (ChatTTS pads shorter ones)"
        np.testing.assert_array_equal(ours, ref.T)
    for ours, ref in zip(speech.audio, spy.waves[-1]):
        np.testing.assert_allclose(ours, ref, **WAVE_TOL)
    assert speech.sample_rate == 24_000


def test_dvae_path_matches_chat_infer(chattts_artifact, chattts_reference):
    spy = chattts_infer(chattts_reference, None, refine=False, use_decoder=False)
    with ttsx.load(chattts_artifact) as pipeline:
        speech = pipeline(list(TEXTS), options=greedy_options(False, use_decoder=False))
    for ours, ref_codes, ref_wave in zip(speech.tokens["code"], spy.passes[-1], spy.waves[-1]):
        np.testing.assert_array_equal(ours, ref_codes.T)
        np.testing.assert_allclose(ours.shape[-1] * 512 - 256, len(ref_wave))
    np.testing.assert_allclose(np.stack(speech.audio), spy.waves[-1], **WAVE_TOL)


def test_changing_the_text_or_the_speaker_changes_the_output(chattts_artifact):
    """The tiny model's greedy codes may not notice one changed prompt position, but its hiddens (the audio) do."""
    options = greedy_options(False)
    with ttsx.load(chattts_artifact) as pipeline:
        a, again, b, c = (pipeline(text, voice=voice, options=options) for text, voice in
                          (("One text.", "seed-0"), ("One text.", "seed-0"), ("Another text.", "seed-0"),
                           ("One text.", "seed-1")))
    np.testing.assert_array_equal(a.audio[0], again.audio[0])  # deterministic: any difference below is real
    assert not np.array_equal(a.tokens["code"][0], b.tokens["code"][0])
    assert np.abs(a.audio[0] - c.audio[0]).max() > 1e-5


def test_seeded_sampling_is_reproducible(chattts_artifact):
    with ttsx.load(chattts_artifact) as pipeline:
        runs = [pipeline("Sampling, seeded.", options=SynthesisOptions(seed=s, max_tokens=12)) for s in (3, 3, 4)]
    np.testing.assert_array_equal(runs[0].audio[0], runs[1].audio[0])
    assert not np.array_equal(runs[0].tokens["code"][0], runs[2].tokens["code"][0])
