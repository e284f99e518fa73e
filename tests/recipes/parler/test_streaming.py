"""Streaming inside a piece, chunk for chunk as parler_tts's own ParlerTTSStreamer streams generate's output."""
import numpy as np
import pytest
import torch

import ttsx
from ttsx.runtimes.pipeline import StreamOptions, SynthesisOptions

TEXT = "Hello world, how are you today?"
DESCRIPTION = "A female speaker with a calm voice and very clear recording quality."
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)


def streamer_chunks(model, pipeline, play_steps: int, stride: int | None = None) -> tuple[list, int]:
    """The chunks ParlerTTSStreamer hands on (on_finalized_audio) over generate(do_sample=False), and its stride."""
    from parler_tts import ParlerTTSStreamer

    class Capture(ParlerTTSStreamer):
        def on_finalized_audio(self, audio, stream_end=False):
            self.chunks.append(np.asarray(audio, np.float32).copy())

    streamer = Capture(model, device="cpu", play_steps=play_steps, stride=stride)
    streamer.chunks = []
    desc = torch.tensor([pipeline.text.encode(DESCRIPTION)])
    prompt = torch.tensor([pipeline.text.encode(TEXT)])
    size, decode = model.audio_encoder.config.codebook_size, model.audio_encoder.decode

    def drop_special(audio_codes, **kwargs):
        """Random weights emit ids 1026..1087, which the streamer hands to the codec (an IndexError) where no
        BOS/PAD/EOS is in sight; it drops frames holding ids >= the codebook size where one is (as ttsx always
        does). Here it always drops them, so the codec runs."""
        return decode(audio_codes=audio_codes[..., (audio_codes < size).flatten(0, -2).all(0)], **kwargs)

    model.audio_encoder.decode = drop_special
    try:
        with torch.no_grad():
            model.generate(input_ids=desc, attention_mask=torch.ones_like(desc), prompt_input_ids=prompt,
                           prompt_attention_mask=torch.ones_like(prompt), max_new_tokens=300, do_sample=False,
                           streamer=streamer)
    finally:
        del model.audio_encoder.decode
    return streamer.chunks, streamer.stride


@pytest.mark.parametrize("play_steps", [10, 16])
def test_the_chunks_equal_parler_tts_streamer_s(parler_snapshot_artifact, parler_snapshot_reference, play_steps):
    options = SynthesisOptions(greedy=True, max_tokens=300, instructions=DESCRIPTION)
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        reference, stride = streamer_chunks(parler_snapshot_reference, pipeline, play_steps)
        chunks = list(pipeline.stream(TEXT, options=options, streaming=StreamOptions(chunk=play_steps,
                                                                                     overlap=stride)))
    assert len(reference) >= 3, "the reference should stream more than one chunk before its last"
    assert [len(c) for c in chunks] == [len(c) for c in reference]
    for ours, ref in zip(chunks, reference):
        np.testing.assert_allclose(ours, ref, **WAVE_TOL)
    assert len(chunks[0]) > 0


def test_the_default_stride_is_the_streamer_s_for_a_released_dac(parler_snapshot_artifact):
    """ParlerTTSStreamer: hop (floor(sampling_rate / frame_rate): 512 for the released DAC, 44.1 kHz at 86 Hz)
    x (play_steps - codebooks) // 6."""
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        assert pipeline.stream_overlap(StreamOptions(chunk=10)) == 512 * (10 - 9) // 6
        assert pipeline.stream_overlap(StreamOptions(chunk=43)) == 512 * (43 - 9) // 6


def test_a_greedy_stream_ends_as_the_whole_piece_does(parler_snapshot_artifact):
    """The last chunk is decoded from every frame: the stream's end equals the whole piece's end."""
    options = SynthesisOptions(greedy=True, max_tokens=300, instructions=DESCRIPTION)
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        chunks = list(pipeline.stream(TEXT, options=options))
        whole = pipeline(TEXT, options=options).audio[0]
    tail = chunks[-1]
    assert len(tail) > 0
    np.testing.assert_allclose(tail, whole[len(whole) - len(tail):], **WAVE_TOL)


def test_the_first_chunk_comes_after_play_steps_not_after_the_piece(parler_snapshot_artifact):
    options = SynthesisOptions(greedy=True, max_tokens=300, instructions=DESCRIPTION)
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        steps, embed = [], pipeline.sessions["embed_codes"].run  # once per decoder step (and the start column)
        pipeline.sessions["embed_codes"].run = lambda *a, **k: (steps.append(1), embed(*a, **k))[1]
        chunks = pipeline.stream(TEXT, options=options, streaming=StreamOptions(chunk=10))
        next(chunks)
        at_first = len(steps)
        list(chunks)
    assert at_first <= 11 and len(steps) > 5 * at_first  # the first audio after 10 columns of a ~90-column piece
