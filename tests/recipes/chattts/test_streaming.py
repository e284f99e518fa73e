"""Streaming inside a piece, chunk for chunk as ChatTTS's own Chat.infer(stream=True) yields them."""
from dataclasses import replace

import numpy as np
import pytest
import torch

import ttsx
from ttsx.recipes.families.chattts.pipeline import ChatTTSOptions
from ttsx.recipes.families.chattts.reference import import_chattts
from ttsx.runtimes.pipeline import StreamOptions, SynthesisOptions

TEXT = "Hello from ttsx, a longer sentence here."
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)
GREEDY_T = 1e-8  # ChatTTS has no greedy flag: at this temperature its draw is the argmax


def infer_chunks(chat, speaker, steps: int, stream_batch: int, pass_first: int, speed: int) -> list:
    Chat = import_chattts().Chat
    params = Chat.InferCodeParams(temperature=GREEDY_T, manual_seed=0, spk_emb=speaker, max_new_token=steps,
                                  show_tqdm=False, stream_batch=stream_batch, pass_first_n_batches=pass_first,
                                  stream_speed=speed)
    return [np.asarray(w[0], np.float32) for w in chat.infer(TEXT, stream=True, skip_refine_text=True,
                                                             split_text=False, params_infer_code=params)]


@pytest.mark.parametrize("steps, chunk, first, speed", [(100, 24, 2, 12000), (70, 10, 1, 4000)],
                         ids=["defaults", "small chunks"])
def test_the_chunks_equal_chat_infer_stream(chattts_artifact, chattts_reference, steps, chunk, first, speed):
    spk = np.load(chattts_artifact / "voices" / "seed-0.npz")["spk_emb"]
    reference = infer_chunks(chattts_reference, chattts_reference.speaker._encode(torch.from_numpy(spk)), steps,
                             chunk, first, speed)
    options = ChatTTSOptions.from_synthesis(SynthesisOptions(greedy=True, max_tokens=steps), steps)
    options = replace(options, refine=None)
    with ttsx.load(chattts_artifact) as pipeline:
        chunks = list(pipeline.stream(TEXT, voice="seed-0", options=options,
                                      streaming=StreamOptions(chunk=chunk, skip=first, max_samples=speed)))
    assert len(reference) >= 3
    assert [len(c) for c in chunks] == [len(c) for c in reference]
    for ours, ref in zip(chunks, reference):
        np.testing.assert_allclose(ours, ref, **WAVE_TOL)


def test_the_first_chunk_comes_after_three_chunks_of_steps_not_after_the_piece(chattts_artifact):
    """The defaults (stream_batch 24, pass_first_n_batches 2): first audio after 72 code steps of 200."""
    options = replace(ChatTTSOptions.from_synthesis(SynthesisOptions(greedy=True, max_tokens=200), 200), refine=None)
    with ttsx.load(chattts_artifact) as pipeline:
        steps, embed = [], pipeline.sessions["embed_code"].run  # once per code step
        pipeline.sessions["embed_code"].run = lambda *a, **k: (steps.append(1), embed(*a, **k))[1]
        chunks = pipeline.stream(TEXT, voice="seed-0", options=options)
        first = next(chunks)
        at_first = len(steps)
        rest = list(chunks)
    assert at_first == 71 and len(steps) > 2 * at_first and len(first) == 12000 and rest  # 72 tokens made, 71 fed back
