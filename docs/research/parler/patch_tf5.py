# Research script for issue 26 (Parler-TTS), not part of ttsx and not run by its tests: see README.md beside it.
"""Monkeypatches to run parler_tts 0.2.3 (unmodified files) on transformers 5.x. Enable each via PATCHES env (comma list) or 'all'."""
import os, sys, types
import torch

ENABLED = os.environ.get("PATCHES", "all")
def on(name):
    return ENABLED == "all" or name in ENABLED.split(",")
APPLIED = []

# P1: descript `dac` is not installed (protobuf<5 pin via audiotools); stub it so parler_tts.dac_wrapper imports.
if on("dac_stub") and "dac" not in sys.modules:
    try:
        import dac  # noqa
    except ImportError:
        m = types.ModuleType("dac"); mm = types.ModuleType("dac.model")
        class DAC:
            def __init__(self, *a, **k):
                raise RuntimeError("descript DAC not installed (stub); use transformers DacConfig/DacModel")
        mm.DAC = DAC; m.model = mm
        sys.modules["dac"] = m; sys.modules["dac.model"] = mm
        APPLIED.append("dac_stub")

# P2: isin_mps_friendly removed from transformers.pytorch_utils
import transformers.pytorch_utils as pu
if on("isin") and not hasattr(pu, "isin_mps_friendly"):
    pu.isin_mps_friendly = lambda elements, test_elements: torch.isin(elements, test_elements)
    APPLIED.append("isin")

import parler_tts  # noqa: E402
from parler_tts import modeling_parler_tts as M, configuration_parler_tts as C  # noqa: E402
from transformers import GenerationMixin  # noqa: E402

# P3: cross_attention_hidden_size no longer a PretrainedConfig default attribute
if on("xattn_size") and not hasattr(C.ParlerTTSDecoderConfig, "cross_attention_hidden_size"):
    C.ParlerTTSDecoderConfig.cross_attention_hidden_size = None
    APPLIED.append("xattn_size")

# P3b: tie_encoder_decoder no longer a PretrainedConfig default attribute (read by parler's tie_weights)
if on("tie_enc_dec") and not hasattr(C.ParlerTTSConfig, "tie_encoder_decoder"):
    C.ParlerTTSConfig.tie_encoder_decoder = False
    APPLIED.append("tie_enc_dec")

# P4: PreTrainedModel no longer inherits GenerationMixin
if on("genmixin"):
    for cls in (M.ParlerTTSForCausalLM, M.ParlerTTSForConditionalGeneration):
        if not issubclass(cls, GenerationMixin):
            cls.__bases__ = cls.__bases__ + (GenerationMixin,)
            APPLIED.append("genmixin:" + cls.__name__)

# P5: DynamicCache.key_cache/value_cache removed -> cache.layers[i].keys/values
if on("kv_cache"):
    from transformers.cache_utils import DynamicCache, Cache
    if not hasattr(DynamicCache, "key_cache"):
        class _KV:
            def __init__(self, cache, attr): self.cache, self.attr = cache, attr
            def __getitem__(self, i): return getattr(self.cache.layers[i], self.attr)
            def __len__(self): return len(self.cache.layers)
        Cache.key_cache = property(lambda self: _KV(self, "keys"))
        Cache.value_cache = property(lambda self: _KV(self, "values"))
        APPLIED.append("kv_cache")

# P6: _expand_inputs_for_generation gets expand_size=None (num_return_sequences default None in 5.x)
if on("expand"):
    _orig_expand = GenerationMixin._expand_inputs_for_generation
    def _expand(self, *args, expand_size=1, **kw):
        return _orig_expand(self, *args, expand_size=expand_size or 1, **kw)
    M.ParlerTTSForConditionalGeneration._expand_inputs_for_generation = _expand
    APPLIED.append("expand")

# P7: tie_weights is called with keyword args in 5.x; parler's override takes none and doesn't call super
if on("tie"):
    _orig_tie = M.ParlerTTSForConditionalGeneration.tie_weights
    def tie_weights(self, *a, **kw):
        _orig_tie(self)
        return M.PreTrainedModel.tie_weights(self, *a, **kw)
    M.ParlerTTSForConditionalGeneration.tie_weights = tie_weights
    APPLIED.append("tie")

print("patch_tf5 applied:", APPLIED, file=sys.stderr)

# P8: 5.x GenerationConfig leaves unset fields None (top_k, num_beams, max_length, ...); the global defaults
# (top_k=50, num_beams=1, max_length=20, ...) are applied only inside GenerationMixin._prepare_generation_config,
# which parler's own generate() never calls. Fill them in the way 4.46 had them.
if on("gen_defaults"):
    import copy, functools
    from transformers import GenerationConfig
    _orig_generate = M.ParlerTTSForConditionalGeneration.generate
    @functools.wraps(_orig_generate)
    def generate(self, inputs=None, generation_config=None, *a, **kw):
        # fill the model's own generation_config in place (as 4.46 had it): parler's generate also reads
        # self.generation_config directly (max_length for the prompt_cross_attention static cache, bos/pad ids)
        if hasattr(GenerationConfig, "_get_default_generation_params"):
            defaults = GenerationConfig._get_default_generation_params()
            self.generation_config.update(**defaults, defaults_only=True)
            if generation_config is not None:
                generation_config = copy.deepcopy(generation_config)
                generation_config.update(**defaults, defaults_only=True)
        return _orig_generate(self, inputs, generation_config, *a, **kw)
    M.ParlerTTSForConditionalGeneration.generate = generate
    APPLIED.append("gen_defaults")
# P9: 5.x generate() no longer keeps `cache_position` in model_kwargs (4.46: _get_initial_cache_position, which parler
# overrides to count the prepended prompt embeddings, then +1 per step). Parler's prepare_inputs_for_generation then
# falls back to arange(past, past + decoder_len) -> prefill positions [0] instead of [0..prompt_len], which breaks RoPE
# positions on the prefill (sinusoidal positions only use cache_position[0], so they are unaffected).
if on("cache_pos"):
    _orig_prep = M.ParlerTTSForConditionalGeneration.prepare_inputs_for_generation
    import functools as _ft
    @_ft.wraps(_orig_prep)  # keep the signature: _validate_model_kwargs inspects it
    def prepare_inputs_for_generation(self, decoder_input_ids, past_key_values=None, *a, cache_position=None, **kw):
        if cache_position is None:
            past = past_key_values.get_seq_length() if past_key_values is not None else 0
            past = int(past)
            if past == 0:
                n = decoder_input_ids.shape[1]
                phs = kw.get("prompt_hidden_states")
                if phs is not None and not self.prompt_cross_attention:
                    n += phs.shape[1]
                cache_position = torch.arange(n, device=decoder_input_ids.device)
            else:
                cache_position = torch.arange(past, past + 1, device=decoder_input_ids.device)
        return _orig_prep(self, decoder_input_ids, past_key_values, *a, cache_position=cache_position, **kw)
    M.ParlerTTSForConditionalGeneration.prepare_inputs_for_generation = prepare_inputs_for_generation
    APPLIED.append("cache_pos")
# P10: parler calls self._prepare_attention_mask_for_generation(inputs, pad_tensor, eos_tensor) (4.46 signature) when
# no attention_mask is passed; 5.x's signature is (inputs_tensor, generation_config, model_kwargs). Accept the old one.
if on("attn_mask_sig"):
    import inspect as _insp
    _gm_prep_mask = GenerationMixin._prepare_attention_mask_for_generation
    if "generation_config" in _insp.signature(_gm_prep_mask).parameters:
        def _prepare_attention_mask_for_generation(self, inputs, pad_token_id=None, eos_token_id=None):
            default = torch.ones(inputs.shape[:2], dtype=torch.long, device=inputs.device)
            if pad_token_id is None or not (inputs.ndim == 2 and inputs.dtype in (torch.int, torch.long)):
                return default
            pad_in = torch.isin(inputs, pad_token_id).any()
            pad_ne_eos = (eos_token_id is None) or ~(torch.isin(eos_token_id, pad_token_id).any())
            can = pad_in * pad_ne_eos
            return inputs.ne(pad_token_id).long() * can + default * ~can
        M.ParlerTTSForConditionalGeneration._prepare_attention_mask_for_generation = _prepare_attention_mask_for_generation
        APPLIED.append("attn_mask_sig")
print("patch_tf5 applied (final):", APPLIED, file=sys.stderr)
