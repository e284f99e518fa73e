"""The torch-compiled backend: static in-place cache + torch.compile, same parity as every backend, no recompiles."""
import numpy as np

import ttsx
from ttsx.checks.parity import run_parity
from ttsx.runtimes.pipeline import SynthesisOptions
from ttsx.runtimes.torch_compiled_backend import PREFILL_BUCKETS, compiled_graphs


def test_compiled_backend_passes_parity_per_graph_and_end_to_end(tiny_artifact):
    rows = run_parity(tiny_artifact, backend="torch-compiled")
    assert [r for r in rows if not r.passed] == []
    assert {r.graph for r in rows} == {"semantic", "coarse", "fine", "codec", "end to end"}
    assert [r.value for r in rows if r.metric == "tokens agree"] == [1.0, 1.0, 1.0]  # greedy tokens identical
    assert any(r.metric == "moved by" and r.graph == "coarse" for r in rows)  # a changed input moves the output


def test_after_warm_up_nothing_recompiles_and_batches_equal_solo_runs(tiny_artifact):
    options = SynthesisOptions(greedy=True, max_tokens=24, batch_size=2)
    texts = ["Other words.", "A second text that is longer, with more words in it."]
    with ttsx.load(tiny_artifact, backend="torch-compiled") as pipeline:
        pipeline(["A first text.", "Second one, longer."], options=options)  # warm-up: compiles (or reuses what
        before = compiled_graphs()  # an earlier test in this process compiled for the same shapes)
        assert before > 0, "nothing was compiled: torch.compile is not in the path"
        batch = pipeline(texts, options=options)
        assert compiled_graphs() == before
        solo = [pipeline([t], options=SynthesisOptions(greedy=True, max_tokens=24, batch_size=1)) for t in texts]
    stages = ("semantic", "coarse", "fine")
    assert any(not np.array_equal(solo[0].tokens[s][0], solo[1].tokens[s][0]) for s in stages), \
        "the two texts give the same tokens: this test could not tell rows apart"
    for row in (0, 1):
        for stage in stages:
            assert np.array_equal(batch.tokens[stage][row], solo[row].tokens[stage][0]), (row, stage)


def test_prefill_buckets_never_write_pads_past_the_cache(tiny_artifact):
    from ttsx.artifact.manifest import load_artifact
    from ttsx.runtimes.reference import reference_model
    from ttsx.runtimes.factory import open_session

    artifact = load_artifact(tiny_artifact)
    with open_session(artifact, "coarse", "torch-compiled", reference_model(artifact)) as session:
        capacity = session.spec.inputs[1].shape[2]
        feed = {"input_ids": np.zeros((1, 20), np.int64), "cache_lengths": np.array([capacity - 30], np.int32)}
        feed[session.spec.cache[0].past] = np.zeros((1, 1, capacity, 1), np.float32)
        assert session._bucket(feed, 20) == 20  # the 64-position bucket would run past the capacity
        feed["cache_lengths"][0] = 0
        assert session._bucket(feed, 20) == next(b for b in PREFILL_BUCKETS if b >= 20)
