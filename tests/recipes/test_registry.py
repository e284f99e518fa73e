import pytest

from ttsx.recipes import UnknownRecipeError, get_recipe, recipe_names, register


def test_unknown_recipe_names_the_known_ones():
    with pytest.raises(UnknownRecipeError, match="toy-tiny"):
        get_recipe("toy-tinny")


def test_lookup_is_exact():
    with pytest.raises(UnknownRecipeError):
        get_recipe("Toy-Tiny")


def test_registering_a_name_twice_raises():
    from ttsx_toy.recipe import ToyRecipe

    with pytest.raises(ValueError, match="already registered"):
        register(ToyRecipe("toy-tiny"))


def test_every_graph_has_unique_named_io():
    for name in recipe_names():
        for spec in get_recipe(name).graphs():
            names = spec.input_names + spec.output_names
            assert len(names) == len(set(names)), spec.name


def test_kv_cache_names_follow_the_optimum_convention():
    from ttsx.recipes.spec import cross_attention_inputs, in_place_cache

    spec = get_recipe("toy-tiny").graph_spec("lm")
    assert spec.input_names[1:5] == ["past_key_values.0.key", "past_key_values.0.value",
                                     "past_key_values.1.key", "past_key_values.1.value"]
    assert spec.output_names[1] == "present.0.key"
    assert spec.input_names[-2:] == ["cache_lengths", "lengths"]
    past = spec.inputs[1]
    assert past.shape == ("batch", 4, "capacity", 16)  # [batch, heads, capacity, head_dim], updated in place
    assert spec.outputs[1].shape == past.shape
    # an encoder-decoder's self-attention cache and cross-attention inputs are named apart, as optimum does
    past, present, pairs, _ = in_place_cache(1, 2, 8, seq2seq=True)
    assert [t.name for t in past] == ["past_key_values.0.decoder.key", "past_key_values.0.decoder.value"]
    assert pairs[0].present == "present.0.decoder.key"
    cross = cross_attention_inputs(1, 2, 8)
    assert [t.name for t in cross] == ["past_key_values.0.encoder.key", "past_key_values.0.encoder.value"]
    assert cross[0].shape == ("batch", 2, "encoder_sequence", 8)


def test_transformers_caches_round_trip_through_flat_tensors():
    import torch

    from ttsx.recipes.causal import build_cache, flatten_cache, flatten_cross

    flat = [torch.randn(1, 2, 3, 4) for _ in range(4)]
    cross = [torch.randn(1, 2, 5, 4) for _ in range(4)]
    def same(a, b):
        return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))

    assert same(flatten_cache(build_cache(tuple(flat))), flat)
    both = build_cache(tuple(flat), cross=tuple(cross))
    assert type(both).__name__ == "EncoderDecoderCache"
    assert same(flatten_cache(both), flat) and same(flatten_cross(both), cross)
    assert flatten_cache(build_cache(())) == []


def test_the_tensorrt_flavour_has_a_static_capacity():
    recipe = get_recipe("toy-tiny")
    spec = recipe.graph_spec("lm", kv_cache="tensorrt")
    assert spec.inputs[1].shape == ("batch", 4, recipe.kv_capacity, 16) == spec.outputs[1].shape
    assert recipe.graph_spec("lm").capacity == "capacity" and spec.capacity == recipe.kv_capacity


@pytest.mark.parametrize("name", recipe_names())
def test_every_graph_of_every_recipe_has_parity_cases(name):
    """A registered graph without cases would never be checked (optimum's rule: no model without a test)."""
    recipe = get_recipe(name)
    for spec in recipe.graphs():
        cases = recipe.graph_kind(spec.name).cases()
        assert len(cases) >= 2 and len({c.label for c in cases}) == len(cases), spec.name
        # a graph that takes one row: no input has a symbolic first (batch) axis (vits_stream's fade is [2, n])
        one_row = not any(t.shape and isinstance(t.shape[0], str) for t in spec.inputs)
        assert one_row or any(getattr(c, "batch", 1) > 1 for c in cases), f"{spec.name}: no batch > 1 case"


def test_families_are_found_not_listed():
    """Every package in recipes/families/ is a family, found without a list; each recipe names its family."""
    from pathlib import Path

    from ttsx.recipes.registry import family_names, get_family

    folder = Path(__file__).resolve().parents[2] / "recipes" / "families"
    built_in = {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    assert built_in and built_in <= set(family_names())
    assert {get_recipe(n).family for n in recipe_names()} == set(family_names())
    assert all(get_family(name).name == name for name in family_names())


def test_a_plug_in_that_cannot_be_imported_is_skipped_with_a_warning():
    import os
    import subprocess
    import sys

    env = dict(os.environ, TTSX_FAMILIES="ttsx_toy,no_such_family_module")
    result = subprocess.run([sys.executable, "-c", "from ttsx.recipes import recipe_names; print(recipe_names())"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "bark-tiny" in result.stdout and "toy-tiny" in result.stdout
    assert "'no_such_family_module' (from TTSX_FAMILIES) can't be imported" in result.stderr
