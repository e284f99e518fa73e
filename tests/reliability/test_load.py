"""200 texts through the Python API in one process: flat memory, no leaked file handles, seeded determinism
(on the test-only toy family: the pipeline machinery is generic)."""
import os

import numpy as np
import pytest

import ttsx

TEXTS = [f"Sentence number {i}, said {'once' if i % 2 else 'twice'}." for i in range(200)]
PER_CALL = 20  # texts per pipeline call: 10 calls
OPTIONS = ttsx.SynthesisOptions(temperature=0.7, max_tokens=4, seed=11, batch_size=10)
GROWTH_LIMIT = 40 << 20  # bytes of resident memory the last calls may add over the warm-up's peak


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc to read memory and handles")
def test_200_texts_flat_memory_no_leaks_deterministic(toy_artifact):
    with ttsx.load(toy_artifact) as pipeline:
        first = pipeline(TEXTS[:PER_CALL], options=OPTIONS)
        pipeline(TEXTS[PER_CALL: 2 * PER_CALL], options=OPTIONS)  # warm-up: arenas reach their size
        rss, files = _rss(), _open_files()
        samples = []
        for start in range(2 * PER_CALL, len(TEXTS), PER_CALL):
            speech = pipeline(TEXTS[start: start + PER_CALL], options=OPTIONS)
            assert len(speech.audio) == PER_CALL and all(np.isfinite(a).all() for a in speech.audio)
            samples.append(_rss())
        assert _open_files() == files
        assert max(samples) - rss < GROWTH_LIMIT, [s - rss for s in samples]
        again = pipeline(TEXTS[:PER_CALL], options=OPTIONS)
    for a, b in zip(first.audio + first.tokens["lm"], again.audio + again.tokens["lm"]):
        np.testing.assert_array_equal(a, b)
    with ttsx.load(toy_artifact) as fresh:  # and in a new pipeline
        np.testing.assert_array_equal(fresh(TEXTS[:PER_CALL], options=OPTIONS).audio[-1], first.audio[-1])
