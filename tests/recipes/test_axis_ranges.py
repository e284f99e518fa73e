"""The recipe's axis ranges (TensorRT optimization profiles) cover every shape ttsx feeds a graph.

An engine refuses shapes outside its profile, so a range too narrow would only show on a TensorRT
machine; here the pipeline's and parity's real feeds are recorded and checked against the ranges.
"""
import numpy as np
import pytest

from ttsx.artifact.manifest import load_artifact
from ttsx.exporter.tensorrt_build import input_profiles
from ttsx.recipes import get_recipe, recipe_names
from ttsx.runtimes.pipeline import SynthesisOptions
from ttsx.runtimes.factory import open_pipeline
from ttsx.runtimes.session import SessionWrapper

MAX_BATCH = 8


def inside(shape, profile) -> bool:
    low, _, high = profile
    return len(shape) == len(low) and all(lo <= s <= hi for s, lo, hi in zip(shape, low, high))


@pytest.mark.parametrize("name", recipe_names())
def test_every_symbolic_input_axis_has_an_ordered_range(name):
    recipe = get_recipe(name)
    for spec in recipe.graphs():
        ranges = recipe.axis_ranges(spec.name, MAX_BATCH)
        for low, opt, high in ranges.values():
            assert 1 <= low <= opt <= high, (spec.name, ranges)
        for low, opt, high in input_profiles(spec, ranges).values():  # raises on an axis without a range
            assert len(low) == len(opt) == len(high)


class Recorder(SessionWrapper):
    """Passes runs through and records every input shape."""

    def __init__(self, inner, seen: dict):
        super().__init__(inner)
        self.seen = seen

    def _run(self, feed, host):
        self.seen.setdefault(self.spec.name, set()).add(tuple((k, tuple(self.describe(v)[0])) for k, v in feed.items()))
        return super()._run(feed, host)


@pytest.mark.parametrize("which", ["toy_artifact", "tiny_artifact"])
def test_pipeline_and_parity_feeds_lie_inside_the_profiles(which, request):
    from ttsx.runtimes.reference import reference_model

    seen: dict = {}
    options = SynthesisOptions(greedy=True, max_tokens=60, batch_size=3)
    artifact = load_artifact(request.getfixturevalue(which))
    model = reference_model(artifact)
    with open_pipeline(artifact, wrap=lambda s: Recorder(s, seen)) as pipeline:
        pipeline(["Hello there.", "A second text, a little longer than the first.", "Three"], options=options)
    recipe = artifact.recipe
    for spec in recipe.graphs():
        kind = recipe.graph_kind(spec.name)
        for i, case in enumerate(kind.cases()):
            feed = kind.feed(model, spec, case, np.random.default_rng(i))
            seen.setdefault(spec.name, set()).add(tuple((k, tuple(np.shape(v))) for k, v in feed.items()))
    assert set(seen) == set(artifact.graph_names)
    for name, feeds in seen.items():
        profiles = input_profiles(recipe.graph_spec(name), recipe.axis_ranges(name, MAX_BATCH))
        for feed in feeds:
            for tensor, shape in feed:
                assert inside(shape, profiles[tensor]), (name, tensor, shape, profiles[tensor])


@pytest.mark.parametrize("name", recipe_names())
def test_the_static_capacity_is_what_a_symbolic_cache_rounds_to(name):
    """A symbolic cache is rounded up to CAPACITY_STEP positions; the static capacity (and the profiles' max)
    must be such a size, or the longest generation would ask for more than the engine takes."""
    from ttsx.recipes.spec import CAPACITY_STEP

    assert get_recipe(name).kv_capacity % CAPACITY_STEP == 0
