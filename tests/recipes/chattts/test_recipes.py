"""ChatTTS's recipes: the real architecture is the chattts package's own Config (what Chat.load builds)."""
import pytest

from ttsx.recipes import get_recipe


def test_chattts_real_architecture_is_the_package_config():
    from ttsx.base.errors import SourceError
    from ttsx.recipes.families.chattts.reference import import_chattts

    try:
        import_chattts()
    except SourceError as exc:
        pytest.skip(f"NOT CHECKED: ChatTTS family ({exc})")
    from ChatTTS.config import Config

    config, recipe = Config(), get_recipe("chattts")
    g, p = recipe.gpt, config.gpt
    assert (g.layers, g.hidden, g.heads, g.intermediate, g.max_positions) == (
        p.num_hidden_layers, p.hidden_size, p.num_attention_heads, p.intermediate_size, p.max_position_embeddings)
    assert (g.num_vq, g.audio_tokens, g.text_tokens) == (p.num_vq, p.num_audio_tokens, p.num_text_tokens)
    d = config.decoder
    assert (recipe.decoder.idim, recipe.decoder.hidden, recipe.decoder.n_layer) == (d.idim, d.hidden, d.n_layer)
    backbone = config.vocos.backbone.init_args
    assert (recipe.vocos.dim, recipe.vocos.layers) == (backbone.dim, backbone.num_layers)


def test_building_a_tiny_reference_leaves_the_package_config_alone(chattts_reference):
    """ChatTTS's Config fields default to shared instances: ttsx sizes a copy, never the package's defaults."""
    from ChatTTS.config import Config

    assert (Config().gpt.hidden_size, Config().gpt.num_hidden_layers) == (768, 20)
