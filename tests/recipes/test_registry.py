import pytest

from ttsx.recipes import UnknownRecipeError, get_recipe, recipe_names, register
from ttsx.recipes.families.bark.recipe import BarkRecipe


def test_unknown_recipe_names_the_known_ones():
    with pytest.raises(UnknownRecipeError, match="bark-small"):
        get_recipe("bark-smol")


def test_lookup_is_exact():
    with pytest.raises(UnknownRecipeError):
        get_recipe("Bark-Small")


def test_registering_a_name_twice_raises():
    with pytest.raises(ValueError, match="already registered"):
        register(BarkRecipe("bark-small", get_recipe("bark-tiny").semantic, get_recipe("bark-tiny").coarse,
                            get_recipe("bark-tiny").fine))


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


def test_every_graph_has_unique_named_io():
    for name in recipe_names():
        for spec in get_recipe(name).graphs():
            names = spec.input_names + spec.output_names
            assert len(names) == len(set(names)), spec.name


def test_kv_cache_names_follow_the_optimum_convention():
    spec = get_recipe("bark-tiny").graph("coarse")
    assert spec.input_names[1:5] == ["past_key_values.0.key", "past_key_values.0.value",
                                     "past_key_values.1.key", "past_key_values.1.value"]
    assert spec.output_names[1] == "present.0.key"
    assert spec.input_names[-2:] == ["cache_lengths", "lengths"]
    past = spec.inputs[1]
    assert past.shape == ("batch", 2, "capacity", 16)  # [batch, heads, capacity, head_dim], updated in place
    assert spec.outputs[1].shape == past.shape


def test_the_tensorrt_flavour_has_a_static_capacity():
    recipe = get_recipe("bark-tiny")
    spec = recipe.graph("coarse", kv_cache="tensorrt")
    assert spec.inputs[1].shape == ("batch", 2, 1024, 16) == spec.outputs[1].shape
    assert recipe.graph("coarse").capacity == "capacity" and spec.capacity == 1024


def test_chattts_real_architecture_is_the_package_config():
    recipe = get_recipe("chattts")
    g = recipe.gpt
    assert (g.layers, g.hidden, g.heads, g.intermediate, g.max_positions) == (20, 768, 12, 3072, 4096)
    assert (g.num_vq, g.audio_tokens, g.text_tokens) == (4, 626, 21_178)
    assert (recipe.decoder.idim, recipe.decoder.hidden, recipe.decoder.n_layer) == (384, 512, 12)
    assert (recipe.vocos.dim, recipe.vocos.layers) == (512, 8)


@pytest.mark.parametrize("name", recipe_names())
def test_every_graph_of_every_recipe_has_parity_cases(name):
    """A registered graph without cases would never be checked (optimum's rule: no model without a test)."""
    recipe = get_recipe(name)
    for spec in recipe.graphs():
        cases = recipe.kind(spec.name).cases()
        assert len(cases) >= 2 and len({c.label for c in cases}) == len(cases), spec.name
        assert any(getattr(c, "batch", 1) > 1 for c in cases), f"{spec.name}: no batch > 1 case"


def test_families_are_found_not_listed():
    """Every package in recipes/families/ is a family, found without a list; each recipe names its family."""
    from pathlib import Path

    from ttsx.recipes.registry import family_names, get_family

    folder = Path(__file__).resolve().parents[2] / "recipes" / "families"
    built_in = {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}
    assert built_in and built_in <= set(family_names())
    assert {get_recipe(n).family for n in recipe_names()} == set(family_names())
    assert all(get_family(name).name == name for name in family_names())
