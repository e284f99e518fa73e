"""Bark's recipes: the real architectures, and the pipeline's largest shapes within the cache and profiles."""
import pytest

from ttsx.recipes import get_recipe, recipe_names


def test_bark_sizes_are_registered():
    assert {"bark-tiny", "bark-small", "bark"} <= set(recipe_names())


@pytest.mark.parametrize("name, layers, hidden, heads", [("bark-small", 12, 768, 12), ("bark", 24, 1024, 16)])
def test_real_architectures(name, layers, hidden, heads):
    recipe = get_recipe(name)
    for arch in (recipe.semantic, recipe.coarse, recipe.fine):
        assert (arch.layers, arch.hidden, arch.heads, arch.block_size, arch.bias) == (layers, hidden, heads, 1024, False)
    assert (recipe.semantic.input_vocab, recipe.semantic.output_vocab) == (129_600, 10_048)
    assert (recipe.coarse.input_vocab, recipe.coarse.output_vocab) == (12_096, 12_096)
    assert (recipe.fine.input_vocab, recipe.fine.n_codes_total, recipe.fine.n_codes_given) == (1_056, 8, 1)
    assert recipe.codec.num_filters == 32 and recipe.codec.n_codebooks == 8


def test_the_largest_pipeline_shapes_fit():
    """Analytic limits: the longest semantic run and coarse window fit the cache; the prefill fits a call."""
    recipe, c = get_recipe("bark-tiny"), get_recipe("bark-tiny").constants
    assert c.semantic_prefill_positions + c.max_semantic_new_tokens - 1 <= recipe.kv_capacity
    assert c.coarse_prompt_tokens + c.coarse_window <= recipe.kv_capacity
    assert c.coarse_prompt_tokens <= recipe.axis_ranges("coarse", 1)["sequence"][2]
