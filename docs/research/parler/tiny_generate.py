# Research script for issue 26 (Parler-TTS), not part of ttsx and not run by its tests: see README.md beside it.
"""Build a tiny random Parler-TTS model and run generate(do_sample=False).

Usage: python tiny_generate.py {parler_dac|hf_dac} [rope] [xattn] [static] [sample]
  parler_dac : audio encoder = parler_tts.DACConfig (wraps descript `dac`)
  hf_dac     : audio encoder = transformers.DacConfig (transformers' DacModel)
  rope       : decoder rope_embeddings=True
  xattn      : prompt_cross_attention=True
  static     : cache_implementation="static"
  sample     : do_sample=True (seeded) instead of greedy
Prints shapes, the token ids, and the logits processors that ran.
"""
import os
import sys
import time

# allow running in the main env with monkeypatches
if os.environ.get("PARLER_PATCH") == "1":
    import patch_tf5  # noqa: F401  (applies patches before parler_tts import)

import torch
import transformers
from transformers import T5Config

import parler_tts
from parler_tts import ParlerTTSConfig, ParlerTTSDecoderConfig, ParlerTTSForConditionalGeneration

args = set(sys.argv[1:])
codec = "hf_dac" if "hf_dac" in args else "parler_dac"
print("transformers", transformers.__version__, "torch", torch.__version__, "parler_tts", parler_tts.__version__, "codec", codec, "args", sorted(args))

torch.manual_seed(0)
t5 = T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
              decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
if codec == "parler_dac":
    audio = parler_tts.DACConfig(num_codebooks=9, codebook_size=1024, latent_dim=32, frame_rate=86, sampling_rate=44100)
else:
    audio = transformers.DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=32,
                                   n_codebooks=9, codebook_size=1024, codebook_dim=8, hidden_size=32, sampling_rate=44100)
dec = ParlerTTSDecoderConfig(vocab_size=1088, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, ffn_dim=64,
                             num_codebooks=9, max_position_embeddings=256, dropout=0.0,
                             pad_token_id=1024, eos_token_id=1024, bos_token_id=1025,
                             rope_embeddings=("rope" in args))
cfg = ParlerTTSConfig.from_sub_models_config(t5, audio, dec, vocab_size=100,
                                              prompt_cross_attention=("xattn" in args))
t0 = time.time()
model = ParlerTTSForConditionalGeneration(cfg).eval()
print("built in %.2fs; audio_encoder=%s model_type=%s use_4dim_audio_codes=%s use_audio_scales=%s attn=%s" % (
    time.time() - t0, type(model.audio_encoder).__name__, model.audio_encoder.config.model_type,
    model.use_4dim_audio_codes, model.use_audio_scales, model.decoder.config._attn_implementation))

gc = model.generation_config
gc.decoder_start_token_id = 1025
gc.pad_token_id = 1024
gc.eos_token_id = 1024
gc.bos_token_id = 1025
print("generation_config:", {k: getattr(gc, k, None) for k in ["bos_token_id", "decoder_start_token_id", "pad_token_id", "eos_token_id", "max_length", "do_sample", "top_k", "top_p", "temperature", "min_new_tokens"]})

# record logits processors actually used
_orig = model._get_logits_processor
def _spy(*a, **kw):
    lp = _orig(*a, **kw)
    print("logits processors:", [type(p).__name__ for p in lp])
    return lp
model._get_logits_processor = _spy

codes_seen = []
_dec = model.audio_encoder.decode
def _dec_spy(*a, **kw):
    c = kw.get("audio_codes", a[0] if a else None)
    codes_seen.append(c.clone())
    return _dec(*a, **kw)
model.audio_encoder.decode = _dec_spy

input_ids = torch.tensor([[5, 6, 7, 8, 1]])
prompt_input_ids = torch.tensor([[9, 10, 11, 1]])
kw = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
          prompt_input_ids=prompt_input_ids, prompt_attention_mask=torch.ones_like(prompt_input_ids),
          max_new_tokens=20, return_dict_in_generate=True)
if "nosuppress" not in args:
    # a random model emits ids 1025..1087 (> codebook_size, not bos/pad/eos) which crash the codec; suppress them
    kw["suppress_tokens"] = list(range(1025, 1088))
if "sample" in args:
    kw["do_sample"] = True
    torch.manual_seed(1234)
else:
    kw["do_sample"] = False
if "static" in args:
    kw["cache_implementation"] = "static"
t0 = time.time()
with torch.no_grad():
    out = model.generate(**kw)
print("generate in %.2fs" % (time.time() - t0))
print("audio:", tuple(out.sequences.shape), "audios_length:", out.get("audios_length"))
print("audio sum %.6f absmax %.6f" % (out.sequences.double().sum().item(), out.sequences.abs().max().item()))
for c in codes_seen:
    print("codes passed to audio_encoder.decode:", tuple(c.shape))
    print(c.reshape(-1, c.shape[-1]).tolist())
# Re-run a second time to get raw codes (before delay undo) for comparison across envs
print("done")
