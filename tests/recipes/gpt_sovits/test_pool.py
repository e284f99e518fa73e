"""Continuous batching of GPT-SoVITS streams (pool.py): pieces that join a running t2s batch at a step boundary,
and take a row another piece freed, stream what each streams alone (pipeline.stream, checked against upstream's
own streaming in test_streaming.py)."""
import numpy as np
import pytest

import ttsx
from ttsx.runtimes.pipeline import Piece, StreamOptions, SynthesisOptions

TEXTS = ["HH AH0 L OW1 , W ER1 L D .",
         "DH IH1 S IH1 Z AH0 L AO1 NG ER0 S EH1 N T AH0 N S , HH IY1 R .",
         "G UH1 D IY1 V N IH0 NG , AH0 N D W EH1 L K AH0 M ."]
SEEDS = [3, 4, 5]


def solo(pipeline, text, seed, tokens, chunk):
    options = SynthesisOptions(seed=seed, max_tokens=tokens)
    return list(pipeline.stream(text, voice="seed-0", options=options, streaming=StreamOptions(chunk=chunk)))


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_pieces_joining_a_running_batch_stream_as_alone(gpt_sovits_artifact, backend):
    """Piece 0 starts alone (a batch of 1); piece 1 joins 5 steps later (the batch grows to 2, piece 0's row
    copied over); piece 2 waits for a free row (the pool has 2) and takes the place the first piece to end frees
    (the batch shrinks to 1, then grows again). Each piece's chunks equal its solo stream's."""
    tokens, chunk = 40, 8
    with ttsx.load(gpt_sovits_artifact, backend=backend) as pipeline:
        alone = [solo(pipeline, t, s, tokens, chunk) for t, s in zip(TEXTS, SEEDS)]
        pool = pipeline.stream_pool("seed-0", SynthesisOptions(max_tokens=tokens), rows=2)
        got: dict[int, list] = {0: [], 1: [], 2: []}
        handles = {id(pool.add(Piece(TEXTS[0], SEEDS[0]), StreamOptions(chunk=chunk))): 0}
        waiting, steps, finished = [1, 2], 0, []
        while handles or waiting:
            if waiting and pool.free and (waiting[0] != 1 or steps >= 5):
                k = waiting.pop(0)
                handles[id(pool.add(Piece(TEXTS[k], SEEDS[k]), StreamOptions(chunk=chunk)))] = k
            for turn in pool.advance():
                assert turn.error is None, turn.error
                k = handles[id(turn.handle)]
                got[k] += turn.chunks
                if turn.done:
                    finished.append(k)
                    del handles[id(turn.handle)]
            steps += 1
        pool.close()
    assert finished[0] != 2 and 2 in finished  # piece 2 ran only once a row was free
    for k in range(3):
        assert len(alone[k]) > 1 and len(got[k]) == len(alone[k]), (k, len(got[k]), len(alone[k]))
        for a, b in zip(got[k], alone[k]):
            np.testing.assert_allclose(a, b, atol=1e-4, rtol=0)
