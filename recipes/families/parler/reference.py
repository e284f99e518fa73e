"""Parler-TTS's PyTorch reference: parler_tts 0.2.3's ParlerTTSForConditionalGeneration, on transformers 5.

parler-tts pins transformers==4.46.1, so ttsx installs it with --no-deps and adapts transformers 5 to
it here, at import, without touching its files or what it computes. Each patch names the change in
transformers it answers; tests/recipes/parler/test_cross_version.py shows the result generates exactly
what the original does on transformers 4.46.1 (same tiny weights, a second venv). docs/research/parler has
the reading that found them.

    dac            parler imports descript's `dac` (protobuf<5 pin breaks onnx): a stand-in module that
                   refuses to build; ttsx's codec is transformers' DacModel (decodes as DAC does)
    isin           transformers.pytorch_utils.isin_mps_friendly removed: torch.isin
    config         PretrainedConfig no longer provides cross_attention_hidden_size / tie_encoder_decoder
    generation     PreTrainedModel no longer inherits GenerationMixin (added to both parler classes)
    caches         Cache.key_cache[i] / value_cache[i] removed: read layers[i].keys / values
    tie_weights    called with keyword arguments, and the T5 embedding tie lives in super().tie_weights
    defaults       GenerationConfig leaves top_k, num_beams, max_length... None and parler's generate never
                   fills them (silently: sampling loses TopK(50)): filled as 4.46 had them
    cache_position generate no longer passes it: the prefill's positions (prompt + start column) rebuilt
    mask           _prepare_attention_mask_for_generation's 4.46 signature, which parler calls
"""
from __future__ import annotations

import json

import copy
import functools
import inspect
import logging
import sys
import types
from pathlib import Path

from ttsx.base.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers

INSTALL = ("pip install --no-deps parler-tts==0.2.3 (it pins transformers==4.46.1; ttsx runs it on transformers "
           "5 without that pin: ttsx.recipes.families.parler.reference)")
HOW_TO_GET = ("pass --model DIR of a downloaded Parler-TTS checkpoint (a save_pretrained snapshot with its tokenizer, "
              "e.g. huggingface_hub.snapshot_download('parler-tts/parler-tts-mini-v1', local_dir=DIR)); its codec may be "
              "descript's DAC ('dac_on_the_hub', as released) or transformers' DacModel. Or use --random-weights to "
              "exercise the toolchain without real weights.")
PATCHED: list[str] = []


def import_parler():
    """parler_tts, patched to run on this transformers (once per process)."""
    if PATCHED:
        import parler_tts

        return parler_tts
    _stand_in_dac()
    import torch
    import transformers.pytorch_utils as pytorch_utils

    if not hasattr(pytorch_utils, "isin_mps_friendly"):
        pytorch_utils.isin_mps_friendly = lambda elements, test_elements: torch.isin(elements, test_elements)
        PATCHED.append("isin")
    logging.getLogger("parler_tts").setLevel(logging.ERROR)  # its import-time flash-attention note, its warnings
    try:
        import parler_tts
    except ImportError as exc:
        raise SourceError(f"the Parler-TTS family needs the parler_tts package ({exc}); {INSTALL}") from None
    _patch(parler_tts)
    PATCHED.append("done")
    return parler_tts


def _stand_in_dac() -> None:
    if "dac" in sys.modules:
        return
    try:
        import dac  # noqa: F401
        return
    except ImportError:
        pass
    package, model = types.ModuleType("dac"), types.ModuleType("dac.model")

    class DAC:  # parler's DACModel wrapper builds one; ttsx's recipes use transformers' DacModel instead
        def __init__(self, *args, **kwargs):
            raise SourceError("descript's DAC is not installed; ttsx builds Parler-TTS with transformers' DacModel "
                              "(model_type 'dac')")

    model.DAC, package.model = DAC, model
    sys.modules["dac"], sys.modules["dac.model"] = package, model


def _patch(parler_tts) -> None:
    import torch
    from parler_tts import configuration_parler_tts as C
    from parler_tts import modeling_parler_tts as M
    from transformers import GenerationConfig, GenerationMixin
    from transformers.cache_utils import Cache, DynamicCache

    if not hasattr(C.ParlerTTSDecoderConfig, "cross_attention_hidden_size"):
        C.ParlerTTSDecoderConfig.cross_attention_hidden_size = None
    if not hasattr(C.ParlerTTSConfig, "tie_encoder_decoder"):
        C.ParlerTTSConfig.tie_encoder_decoder = False
    for cls in (M.ParlerTTSForCausalLM, M.ParlerTTSForConditionalGeneration):
        if not issubclass(cls, GenerationMixin):
            cls.__bases__ = cls.__bases__ + (GenerationMixin,)
    if not hasattr(DynamicCache, "key_cache"):
        class _Layers:
            def __init__(self, cache, part):
                self.cache, self.part = cache, part

            def __getitem__(self, i):
                return getattr(self.cache.layers[i], self.part)

            def __len__(self):
                return len(self.cache.layers)

        Cache.key_cache = property(lambda self: _Layers(self, "keys"))
        Cache.value_cache = property(lambda self: _Layers(self, "values"))
    generation = M.ParlerTTSForConditionalGeneration
    own_tie = generation.tie_weights

    def tie_weights(self, *args, **kwargs):
        own_tie(self)
        return M.PreTrainedModel.tie_weights(self, *args, **kwargs)

    generation.tie_weights = tie_weights
    own_generate = generation.generate

    @functools.wraps(own_generate)
    def generate(self, inputs=None, generation_config=None, *args, **kwargs):
        if hasattr(GenerationConfig, "_get_default_generation_params"):
            defaults = GenerationConfig._get_default_generation_params()
            self.generation_config.update(**defaults, defaults_only=True)
            if generation_config is not None:
                generation_config = copy.deepcopy(generation_config)
                generation_config.update(**defaults, defaults_only=True)
        return own_generate(self, inputs, generation_config, *args, **kwargs)

    generation.generate = generate
    own_expand = GenerationMixin._expand_inputs_for_generation

    def expand(self, *args, expand_size=1, **kwargs):
        return own_expand(self, *args, expand_size=expand_size or 1, **kwargs)

    generation._expand_inputs_for_generation = expand
    own_prepare = generation.prepare_inputs_for_generation

    @functools.wraps(own_prepare)  # the signature is inspected by generate's kwargs check
    def prepare_inputs_for_generation(self, decoder_input_ids, past_key_values=None, *args, cache_position=None,
                                      **kwargs):
        if cache_position is None:  # 4.46's _get_initial_cache_position (parler's), then one more per step
            past = int(past_key_values.get_seq_length()) if past_key_values is not None else 0
            if past == 0:
                n = decoder_input_ids.shape[1]
                prompt = kwargs.get("prompt_hidden_states")
                if prompt is not None and not self.prompt_cross_attention:
                    n += prompt.shape[1]
                cache_position = torch.arange(n, device=decoder_input_ids.device)
            else:
                cache_position = torch.arange(past, past + 1, device=decoder_input_ids.device)
        return own_prepare(self, decoder_input_ids, past_key_values, *args, cache_position=cache_position, **kwargs)

    generation.prepare_inputs_for_generation = prepare_inputs_for_generation
    if "generation_config" in inspect.signature(GenerationMixin._prepare_attention_mask_for_generation).parameters:
        def prepare_attention_mask(self, inputs, pad_token_id=None, eos_token_id=None):
            default = torch.ones(inputs.shape[:2], dtype=torch.long, device=inputs.device)
            if pad_token_id is None or not (inputs.ndim == 2 and inputs.dtype in (torch.int, torch.long)):
                return default
            has_pad = torch.isin(inputs, pad_token_id).any()
            pad_is_not_eos = eos_token_id is None or ~(torch.isin(eos_token_id, pad_token_id).any())
            can = has_pad * pad_is_not_eos
            return inputs.ne(pad_token_id).long() * can + default * ~can

        generation._prepare_attention_mask_for_generation = prepare_attention_mask


ATTENTION_LOGITS_STD = 2.0  # random attention is made about this peaked (a trained model's is; init's is ~0.003)
CROSS_OUTPUT_STD = 0.5  # and cross-attention's output about this large (init's ~0.001, beside a residual of ~0.7)
AUDIO_STD = 0.1  # random DAC output scaled to about this (init's is ~0.002, below any audio tolerance)


def build(recipe, seed: int = 0):
    """A ParlerTTSForConditionalGeneration of the recipe's sizes with seeded random weights, every all-zero
    buffer and parameter filled, and generate's ids set as the checkpoints set them.

    transformers' init leaves the model nearly inert: attention logits of std ~0.003 (every query attends
    uniformly, so the description's keys barely matter) and audio of std ~0.002 (DAC's codebooks at std 0.02).
    Parity's sensitivity check would then miss a cross-attention or codec bug, so the random reference gets
    a trained model's scales: each attention's q/k projections scaled so its logits have std ~2 on a probe,
    cross-attention's value projection so its output has std ~0.5 (the description then steers), DAC's codebooks redrawn at unit scale and its last convolution scaled to audio of std ~0.1."""
    import torch

    parler = import_parler()
    config = parler.ParlerTTSConfig.from_sub_models_config(recipe.t5.config(), recipe.dac.config(),
                                                           recipe.decoder.config(), vocab_size=recipe.t5.vocab,
                                                           prompt_cross_attention=False)
    torch.manual_seed(seed)
    model = parler.ParlerTTSForConditionalGeneration(config).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    fill_degenerate_buffers(model, generator)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.numel() > 1 and not param.any():
                param.copy_(0.02 * torch.randn(param.shape, generator=generator))
        _sharpen_attention(model, recipe, generator)
        _scale_codec(model, recipe, generator)
    _set_generation_ids(model, recipe)
    return model


def _sharpen_attention(model, recipe, generator) -> None:
    """Scale each decoder attention's q_proj and k_proj so its logits on a probe have ATTENTION_LOGITS_STD."""
    import torch

    from .graphs import encoder_states

    ids = torch.randint(3, recipe.t5.vocab, (1, 24), generator=generator)
    states = encoder_states(model, ids, torch.ones_like(ids))
    for layer in model.decoder.model.decoder.layers:
        x = torch.randn(1, 24, recipe.decoder.hidden, generator=generator)  # LayerNorm outputs: unit scale
        for attention, source in ((layer.self_attn, x), (layer.encoder_attn, states)):
            q = attention.q_proj(x) * attention.scaling
            k = attention.k_proj(source)
            heads = attention.num_heads
            q = q.view(1, -1, heads, attention.head_dim).transpose(1, 2)
            k = k.view(1, -1, attention.num_key_value_heads, attention.head_dim).transpose(1, 2)
            k = k.repeat_interleave(heads // attention.num_key_value_heads, 1)
            factor = (ATTENTION_LOGITS_STD / float((q @ k.transpose(-1, -2)).std())) ** 0.5
            attention.q_proj.weight.mul_(factor)
            attention.k_proj.weight.mul_(factor)
        cross = layer.encoder_attn
        out = cross(hidden_states=x, key_value_states=states)[0]
        cross.v_proj.weight.mul_(CROSS_OUTPUT_STD / float(out.std()))


def _scale_codec(model, recipe, generator) -> None:
    """DAC's codebooks at unit scale, and its last convolution scaled so random codes give AUDIO_STD audio."""
    import torch

    dac = model.audio_encoder
    for quantizer in dac.quantizer.quantizers:
        quantizer.codebook.weight.copy_(torch.randn(quantizer.codebook.weight.shape, generator=generator))
    codes = torch.randint(0, recipe.dac.codebook_size, (1, recipe.dac.codebooks, 16), generator=generator)
    std = float(dac.decode(audio_codes=codes).audio_values.std())
    last = dac.decoder.conv2
    last.weight.mul_(AUDIO_STD / std)
    last.bias.mul_(AUDIO_STD / std)


def _set_generation_ids(model, recipe) -> None:
    d = recipe.decoder
    g = model.generation_config
    g.decoder_start_token_id, g.bos_token_id, g.pad_token_id, g.eos_token_id = d.bos, d.bos, d.pad, d.eos
    g.do_sample, g.max_length = True, recipe.sampling.max_steps + 1


def load_snapshot(recipe, directory: Path):
    """A save_pretrained snapshot (safetensors, whole or sharded), checked against the recipe's sizes: its codec
    transformers' DacModel, or descript's DAC as every released checkpoint has it (read as a DacModel)."""
    parler = import_parler()
    path = directory / "config.json"
    if not path.is_file():
        raise SourceError(f"{directory} has no config.json; pass a directory written by save_pretrained. {HOW_TO_GET}")
    raw = json.loads(path.read_text())
    if not is_descript(raw.get("audio_encoder", {})):
        model = parler.ParlerTTSForConditionalGeneration.from_pretrained(directory).eval()
        check_sizes(recipe, model)
        return model
    from .descript_dac import dac_config

    raw["audio_encoder"] = dac_config(raw["audio_encoder"]).to_dict()
    model = parler.ParlerTTSForConditionalGeneration(parler.ParlerTTSConfig.from_dict(raw)).eval()
    check_sizes(recipe, model)
    _load_descript_snapshot(model, directory)
    if (directory / "generation_config.json").is_file():
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(directory)
    return model


def is_descript(audio_encoder: dict) -> bool:
    """parler's DACConfig (descript's DAC): model_type dac_on_the_hub, or "dac" with DACConfig's own keys (parler
    names it "dac" on transformers <= 4.44, as transformers' DacConfig is named)."""
    from .descript_dac import HUB_TYPE

    return audio_encoder.get("model_type") == HUB_TYPE or "latent_dim" in audio_encoder


def _load_descript_snapshot(model, directory: Path) -> None:
    """The snapshot's weights into `model`, its `audio_encoder.model.*` (descript's DAC) converted to DacModel's."""
    from .descript_dac import convert

    state = read_safetensors(directory)
    prefix = "audio_encoder.model."
    dac = {k[len(prefix):]: state.pop(k) for k in [k for k in state if k.startswith(prefix)]}
    state.update({f"audio_encoder.{k}": v for k, v in convert(dac, len(model.config.audio_encoder.downsampling_ratios)).items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    model.tie_weights()
    own = model.state_dict(keep_vars=True)
    loaded = {own[k].data_ptr() for k in state if k in own}
    missing = [k for k in missing if own[k].data_ptr() not in loaded]  # save_pretrained keeps one of a tied pair
    if missing or unexpected:
        raise SourceError(f"{directory}: its weights do not fit its config (missing {missing[:3]}, unexpected "
                          f"{unexpected[:3]}); re-save it with save_pretrained")


def read_safetensors(directory: Path) -> dict:
    """Every tensor of a save_pretrained snapshot: model.safetensors, or the shards its index names."""
    from safetensors.torch import load_file

    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (directory / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        raise SourceError(f"{directory} has no model.safetensors (nor a sharded index); save it with "
                          "save_pretrained(safe_serialization=True), as parler's releases are")
    state = {}
    for shard in shards:
        file = (directory / shard).resolve()
        if file.parent != directory.resolve() or not file.is_file():
            raise SourceError(f"{index} names {shard!r}, which is not a file of {directory}")
        state.update(load_file(str(file)))
    return state


def check_sizes(recipe, model) -> None:
    """SourceError unless the model has the recipe's sizes and the layout ttsx exports."""
    dec, t5, dac = model.config.decoder, model.config.text_encoder, model.config.audio_encoder
    d = recipe.decoder
    wanted = {"decoder layers": (dec.num_hidden_layers, d.layers), "decoder hidden": (dec.hidden_size, d.hidden),
              "decoder heads": (dec.num_attention_heads, d.heads), "codebooks": (dec.num_codebooks, d.codebooks),
              "decoder vocab": (dec.vocab_size, d.vocab), "T5 width": (t5.d_model, recipe.t5.d_model),
              "T5 layers": (t5.num_layers, recipe.t5.layers), "DAC codebooks": (dac.n_codebooks, recipe.dac.codebooks),
              "decoder key/value heads": (dec.num_key_value_heads, d.kv_heads),
              "decoder cross-attention key/value heads": (dec.num_cross_attention_key_value_heads, d.kv_heads)}
    wrong = [f"{k} {have} (the recipe's {want})" for k, (have, want) in wanted.items() if have != want]
    if model.config.vocab_size != recipe.t5.vocab:
        wrong.append(f"a prompt vocabulary of {model.config.vocab_size} ids, not T5's {recipe.t5.vocab}: a separate "
                     "prompt tokenizer (Mini v1.1, the multilingual and Indic checkpoints), which ttsx does not read yet")
    if dec.rope_embeddings:
        wrong.append("rotary positions (ttsx exports the sinusoidal decoder)")
    if model.prompt_cross_attention:
        wrong.append("prompt_cross_attention (ttsx exports the prepended prompt)")
    if wrong:
        raise SourceError(f"this checkpoint does not match recipe {recipe.name!r}: " + "; ".join(wrong))


def load_reference(recipe, source: ModelSource):
    """The reference for `source`: seeded random weights, or a local snapshot."""
    if source.origin == "random":
        return build(recipe, source.seed)
    if source.origin == "hub":
        raise SourceError(f"ttsx works offline; download {source.location!r} first. {HOW_TO_GET}")
    return load_snapshot(recipe, source.directory)

