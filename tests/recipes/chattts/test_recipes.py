"""ChatTTS's recipes: the real architecture is the chattts package's config."""
from ttsx.recipes import get_recipe


def test_chattts_real_architecture_is_the_package_config():
    recipe = get_recipe("chattts")
    g = recipe.gpt
    assert (g.layers, g.hidden, g.heads, g.intermediate, g.max_positions) == (20, 768, 12, 3072, 4096)
    assert (g.num_vq, g.audio_tokens, g.text_tokens) == (4, 626, 21_178)
    assert (recipe.decoder.idim, recipe.decoder.hidden, recipe.decoder.n_layer) == (384, 512, 12)
    assert (recipe.vocos.dim, recipe.vocos.layers) == (512, 8)
