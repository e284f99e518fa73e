"""parler-tts-tiny on the torch-compiled backend: a static cache over the whole generation (the recipe's
capacity), prefills padded to PREFILL_BUCKETS and descriptions to powers of two, so after one warm-up other
texts, descriptions and lengths compile nothing; the codes equal onnxruntime's. And `ttsx bench` times Parler's
own eager and static-cache + torch.compile generate beside ttsx."""
import numpy as np

import ttsx
from ttsx.runtimes.pipeline import SynthesisOptions
from ttsx.runtimes.torch_compiled_backend import compiled_graphs

WARM = (("Hello world.", "The quick brown fox jumps."), "A female speaker with a calm voice.")  # both prefill
#                                                                          buckets the others use: 16 and 64
OTHERS = [("Good morning, everyone!", "A man speaks fast, with some noise.", 30),
          ("How are you?", "Jon's voice is monotone and slightly fast.", 45)]


def test_after_warm_up_nothing_recompiles_and_codes_equal_onnxruntime(parler_artifact):
    runs = {}
    with ttsx.load(parler_artifact, backend="torch-compiled") as pipeline:
        for text in WARM[0]:
            pipeline(text, options=SynthesisOptions(greedy=True, max_tokens=20, instructions=WARM[1]))
        before = compiled_graphs()
        assert before > 0, "nothing was compiled: torch.compile is not in the path"
        runs["compiled"] = [pipeline(t, options=SynthesisOptions(greedy=True, max_tokens=n, instructions=d))
                            for t, d, n in OTHERS]
        assert compiled_graphs() == before  # other prompt, description and generation lengths: same buckets
    with ttsx.load(parler_artifact) as pipeline:
        runs["onnxruntime"] = [pipeline(t, options=SynthesisOptions(greedy=True, max_tokens=n, instructions=d))
                               for t, d, n in OTHERS]
    for ours, theirs in zip(runs["compiled"], runs["onnxruntime"]):
        np.testing.assert_array_equal(ours.decoder[0], theirs.decoder[0])
        np.testing.assert_allclose(ours.audio[0], theirs.audio[0], atol=1e-4, rtol=1e-3)


def test_bench_times_parler_eager_and_compiled_beside_ttsx(parler_artifact):
    from ttsx.app.bench import Workload, run_bench

    results = run_bench([parler_artifact], ("onnxruntime",), Workload(20, (1,), 1))
    assert [r.runtime for r in results] == ["eager parler fp32", "parler static cache + torch.compile",
                                            "ttsx onnxruntime fp32"]
    assert len({r.audio_s for r in results}) == 1 and all(r.steps == {"decoder": 20} for r in results)
    assert all(set(r.stage_s) == {"decoder", "dac"} for r in results)
