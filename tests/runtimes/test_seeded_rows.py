"""A seeded text makes the same tokens alone, batched with other texts, and piece by piece (what the server relies on)."""
import numpy as np
import pytest

import ttsx
from ttsx.runtimes.pipeline import Piece, Speech, SynthesisOptions
from ttsx.runtimes.sampling import RowRandom

SAMPLED = SynthesisOptions(seed=7, temperature=0.9, top_k=40, max_tokens=20)
LONG = "A first sentence for the window. " * 9 + "And the last one."


def test_row_streams_do_not_depend_on_the_batch():
    alone = RowRandom([(7, 0, 1)]).random((3, 1))
    batched = RowRandom([(5, 0, 1), (7, 0, 1), (9, 2, 1)]).random((9, 1))
    np.testing.assert_array_equal(batched[3:6], alone)
    assert not np.array_equal(batched[0:3], alone)
    with pytest.raises(ValueError, match="do not split evenly"):
        RowRandom([(1,), (2,)]).random((3, 1))


@pytest.mark.parametrize("family", ["bark", "chattts"])
def test_a_seeded_text_is_the_same_alone_batched_and_piece_by_piece(family, tiny_artifact, chattts_artifact):
    artifact = tiny_artifact if family == "bark" else chattts_artifact
    with ttsx.load(artifact) as pipeline:
        stage = next(iter(pipeline(["Hi."], options=SAMPLED).tokens))  # the first sampled stage
        alone = pipeline(["Seeded words."], options=SAMPLED)
        batched = pipeline(["Other words first.", "Seeded words.", "More."], options=SAMPLED)
        np.testing.assert_array_equal(batched.tokens[stage][1], alone.tokens[stage][0])
        np.testing.assert_allclose(batched.audio[1], alone.audio[0], atol=1e-5)
        other_seed = pipeline(["Seeded words."], options=SynthesisOptions(**{**SAMPLED.__dict__, "seed": 8}))
        assert not np.array_equal(other_seed.tokens[stage][0], alone.tokens[stage][0]), "the seed changes nothing"

        if family == "bark":  # Bark's window is 256 tokens: a long text splits; ChatTTS's 512 would need more
            options = pipeline.options(SAMPLED)
            pieces = pipeline.split(LONG, options)
            assert len(pieces) > 1
            whole = pipeline(LONG, options=SAMPLED)
            one_by_one = [pipeline.run_pieces([Piece(text, SAMPLED.seed, k)], None, options, Speech([], 24_000),
                                              lambda m: None)[0] for k, text in enumerate(pieces)]
            np.testing.assert_allclose(np.concatenate(one_by_one), whole.audio[0], atol=1e-5)
