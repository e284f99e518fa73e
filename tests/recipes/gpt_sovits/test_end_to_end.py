"""End-to-end parity with upstream GPT-SoVITS (gpt-sovits-tiny, random weights, ../shared's unchanged v2 code).

Upstream's own calls, as its web UI makes them: `infer_panel` (top_k 1: one candidate, so its
exponential noise decides nothing) on the voice's prompt phonemes + the text's with zero BERT
features and the prompt ids, then `SynthesizerTrn.decode(ids, text phonemes, [refer])` with the
noise ttsx fed its VITS graph (decode's randn_like, kinds.given_noise).
"""
from dataclasses import replace

import numpy as np
import pytest
import torch

import ttsx
from ttsx.recipes.families.gpt_sovits.kinds import given_noise
from ttsx.recipes.families.gpt_sovits.pipeline import GptSovitsOptions, choose
from ttsx.runtimes.pipeline import SynthesisOptions

TEXTS = ["HH AH0 L OW1 , W ER1 L D .", "DH IH1 S IH1 Z AH0 L AO1 NG ER0 S EH1 N T AH0 N S , HH IY1 R ."]
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)


class NoiseSpy:
    """Records the inputs each VITS call got."""

    def __init__(self, pipeline):
        self.calls, session = [], pipeline.sessions["vits"]
        run = session.run

        def spy(feed, *args, **kwargs):
            self.calls.append({k: np.array(v) for k, v in feed.items()})
            return run(feed, *args, **kwargs)

        session.run = spy


def upstream(reference, pipeline, text: str, voice, noise: np.ndarray | None):
    """infer_panel (top_k 1) and decode as the web UI calls them: (kept ids, audio or None)."""
    phones = np.asarray(pipeline.phonemizer.encode(text), np.int64)
    all_ids = torch.from_numpy(np.concatenate([voice.prompt_phonemes, phones]))[None]
    bert = torch.zeros(1, 1024, all_ids.shape[1])
    with torch.no_grad():
        y, idx = reference.t2s.infer_panel(all_ids, torch.tensor([all_ids.shape[1]]),
                                           torch.from_numpy(voice.prompt_ids)[None], bert, top_k=1)
        codes = y[:, -idx:].unsqueeze(0)
        if noise is None:
            return codes[0, 0].numpy(), None
        with given_noise(torch.from_numpy(noise)):
            audio = reference.vits.decode(codes, torch.from_numpy(phones)[None], [torch.from_numpy(voice.refer)[None]])
    return codes[0, 0].numpy(), audio.reshape(-1).numpy()


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_greedy_equals_upstream_infer_panel_and_decode(gpt_sovits_artifact, gpt_sovits_reference, backend):
    """Token for token equal to upstream's infer_panel, and the waveform equal to its decode, batched 2."""
    with ttsx.load(gpt_sovits_artifact, backend=backend) as pipeline:
        spy = NoiseSpy(pipeline)
        speech = pipeline(TEXTS, voice="seed-0", options=SynthesisOptions(greedy=True, seed=0, batch_size=2))
        voice = pipeline.load_voice("seed-0")
        for i, text in enumerate(TEXTS):
            ids, audio = upstream(gpt_sovits_reference, pipeline, text, voice, spy.calls[i]["noise"])
            np.testing.assert_array_equal(speech.t2s[i], ids)
            assert len(ids) >= 11  # EOS is masked for 11 steps
            np.testing.assert_allclose(speech.audio[i], audio, **WAVE_TOL)
        assert len(speech.t2s[0]) != len(speech.t2s[1]) or not np.array_equal(speech.t2s[0], speech.t2s[1])


def test_the_voice_moves_the_tokens_and_the_audio(gpt_sovits_artifact):
    """Random weights could make the prompt inert: another voice changes the ids and the waveform."""
    options = SynthesisOptions(greedy=True, seed=0)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        a, b = (pipeline(TEXTS[0], voice=v, options=options) for v in ("seed-0", "seed-1"))
    assert not np.array_equal(a.t2s[0], b.t2s[0])
    assert a.audio[0].shape != b.audio[0].shape or not np.allclose(a.audio[0], b.audio[0], atol=1e-3)


def test_seeded_sampling_is_the_same_alone_and_batched(gpt_sovits_artifact):
    """Upstream's default sampling (top_k 15), seeded: each text's ids and audio alone equal them in a batch."""
    options = SynthesisOptions(seed=3, batch_size=2)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        batched = pipeline(TEXTS, voice="seed-1", options=options)
        alone = [pipeline(t, voice="seed-1", options=replace(options, batch_size=1)) for t in TEXTS]
        other_seed = pipeline(TEXTS[0], voice="seed-1", options=replace(options, seed=4))
    for i in range(len(TEXTS)):
        np.testing.assert_array_equal(batched.t2s[i], alone[i].t2s[0])
        np.testing.assert_allclose(batched.audio[i], alone[i].audio[0], atol=1e-5)
    assert not np.array_equal(other_seed.t2s[0], alone[0].t2s[0])


def test_the_step_cap_keeps_upstream_last_ids(gpt_sovits_artifact):
    """EOS barred: every row runs to the cap, and (upstream's y[:, -idx:] at idx = cap - 1) keeps cap - 1 ids."""
    options = SynthesisOptions(greedy=True, seed=0, max_tokens=30, stop_at_eos=False)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        speech = pipeline(TEXTS, voice="seed-0", options=options)
    assert [len(ids) for ids in speech.t2s] == [29, 29]
    hop = 2 * 640
    assert [len(a) for a in speech.audio] == [29 * hop, 29 * hop]


def test_sampling_rules_match_upstream_sample():
    """ttsx's choose against upstream's logits_to_probs + exponential argmax on the same noise, many rows."""
    from ttsx.recipes.families.gpt_sovits.reference import import_upstream

    utils = __import__("AR.models.utils", fromlist=["logits_to_probs"]) if import_upstream() else None
    rng = np.random.default_rng(0)
    for top_k, top_p, temperature in ((15, 1.0, 1.0), (5, 0.8, 0.7), (1, 1.0, 1.0), (50, 0.5, 1.3)):
        logits = rng.standard_normal((6, 1025)).astype(np.float32) * 3
        history = [rng.integers(0, 1024, n) for n in (0, 1, 5, 30, 200, 7)]
        noise = rng.exponential(1.0, logits.shape).astype(np.float32)
        options = GptSovitsOptions(top_k=top_k, top_p=top_p, temperature=temperature)
        ours = choose(logits, seen_of(history), options, noise, eos=None)
        for b in range(len(logits)):
            probs = utils.logits_to_probs(torch.from_numpy(logits[b: b + 1].copy()),
                                          torch.from_numpy(history[b][None]) if len(history[b]) else None,
                                          temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=1.35)
            theirs = int(torch.argmax(probs / torch.from_numpy(noise[b: b + 1]), dim=-1))
            assert ours[b] == theirs, (top_k, top_p, temperature, b)
    # the penalty counts: an earlier id loses the lead it had by less than the factor 1.35 (a positive logit is
    # divided) and a negative earlier id sinks further; once per distinct id, however often it came before
    logits = np.full((2, 1025), -5.0, np.float32)
    logits[:, 7], logits[:, 9] = 3.0, 2.5
    ones = np.ones_like(logits)
    greedy = GptSovitsOptions(top_k=1)
    assert list(choose(logits, seen_of([np.array([7, 7, 7]), np.array([], np.int64)]), greedy, ones, eos=None)) == [9, 7]
    assert list(choose(logits, seen_of([np.array([7]), np.array([9])]), replace(greedy, repetition_penalty=1.0), ones,
                       eos=None)) == [7, 7]


def seen_of(history: list[np.ndarray]) -> np.ndarray:
    """The pipeline's seen mask [rows, 1025] of each row's earlier ids."""
    seen = np.zeros((len(history), 1025), bool)
    for b, ids in enumerate(history):
        seen[b, ids] = True
    return seen


def test_a_stream_of_several_pieces_takes_the_first_voice_when_none_is_named(gpt_sovits_artifact):
    """Seeded, a text over one window streams piece after piece, the artifact's first voice when none is named
    (test_streaming.py checks the chunks against upstream's)."""
    text = "HH AH0 L OW1 , W ER1 L D . " * 40  # over one window: more than one piece
    options = SynthesisOptions(seed=3, max_tokens=40)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        chunks = list(pipeline.stream(text, options=options))
        named = list(pipeline.stream(text, voice=pipeline.voices[0], options=options))
        pieces = len(pipeline.split(text))
    assert pieces > 1 and len(chunks) >= pieces
    assert [len(c) for c in chunks] == [len(c) for c in named]
    for a, b in zip(chunks, named):
        np.testing.assert_array_equal(a, b)


def test_two_streams_taking_turns_give_each_its_own_chunks(gpt_sovits_artifact):
    """Streams made chunk by chunk in turns on one pipeline (as `ttsx serve` advances concurrent streamed
    requests) each give what they give alone: every generation has its own t2s cache."""
    options = SynthesisOptions(greedy=True, seed=5, max_tokens=60)
    with ttsx.load(gpt_sovits_artifact) as pipeline:
        alone = [list(pipeline.stream(t, voice=v, options=options)) for t, v in zip(TEXTS, ("seed-0", "seed-1"))]
        streams = [pipeline.stream(t, voice=v, options=options) for t, v in zip(TEXTS, ("seed-0", "seed-1"))]
        turns: list[list[np.ndarray]] = [[], []]
        live = {0, 1}
        while live:
            for i in sorted(live):
                chunk = next(streams[i], None)
                if chunk is None:
                    live.discard(i)
                else:
                    turns[i].append(chunk)
    assert all(len(a) > 1 for a in alone)  # several chunks each: the streams really interleave
    for mine, solo in zip(turns, alone):
        assert len(mine) == len(solo)
        for a, b in zip(mine, solo):
            np.testing.assert_array_equal(a, b)
