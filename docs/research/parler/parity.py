# Research script for issue 26 (Parler-TTS), not part of ttsx and not run by its tests: see README.md beside it.
"""Cross-version parity: same tiny Parler-TTS weights, generate() on transformers 4.46.1 (venv46) vs 5.25 (+patches).

  venv46/bin/python parity.py save  /tmp/parler/ref46.pt          # build, run cases, save weights+outputs
  PARLER_PATCH=1 PYTHONPATH=site:main python3 parity.py check /tmp/parler/ref46.pt   # load weights, rerun, compare
Codec: transformers DacModel (model_type "dac") so both envs can build it.
"""
import os
import sys

if os.environ.get("PARLER_PATCH") == "1":
    import patch_tf5  # noqa: F401

import torch
import transformers
from transformers import T5Config

import parler_tts
from parler_tts import ParlerTTSConfig, ParlerTTSDecoderConfig, ParlerTTSForConditionalGeneration

mode, path = sys.argv[1], sys.argv[2]
ROPE = "rope" in sys.argv[3:]
XATTN = "xattn" in sys.argv[3:]
print("transformers", transformers.__version__, "torch", torch.__version__, "mode", mode, "rope", ROPE, "xattn", XATTN)


def build():
    t5 = T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                  decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    audio = transformers.DacConfig(encoder_hidden_size=8, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=32,
                                   n_codebooks=9, codebook_size=1024, codebook_dim=8, hidden_size=32,
                                   sampling_rate=44100)
    dec = ParlerTTSDecoderConfig(vocab_size=1088, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                 ffn_dim=64, num_codebooks=9, max_position_embeddings=256, dropout=0.0,
                                 pad_token_id=1024, eos_token_id=1024, bos_token_id=1025, rope_embeddings=ROPE)
    cfg = ParlerTTSConfig.from_sub_models_config(t5, audio, dec, vocab_size=100, prompt_cross_attention=XATTN)
    torch.manual_seed(0)
    m = ParlerTTSForConditionalGeneration(cfg).eval()
    gc = m.generation_config
    gc.decoder_start_token_id = 1025; gc.bos_token_id = 1025; gc.pad_token_id = 1024; gc.eos_token_id = 1024
    return m


model = build()
if mode == "check":
    ref = torch.load(path, weights_only=False)
    missing, unexpected = model.load_state_dict(ref["state_dict"], strict=False)
    print("load_state_dict missing:", missing, "unexpected:", unexpected)
else:
    ref = {"state_dict": {k: v.clone() for k, v in model.state_dict().items()}, "cases": {}}

raw = []
_orig_sample = model._sample
def _sample_spy(*a, **kw):
    o = _orig_sample(*a, **kw)
    raw.append((o.sequences if hasattr(o, "sequences") else o).clone())
    return o
model._sample = _sample_spy
codes = []
_dec = model.audio_encoder.decode
def _dec_spy(*a, **kw):
    codes.append(kw.get("audio_codes", a[0] if a else None).clone())
    return _dec(*a, **kw)
model.audio_encoder.decode = _dec_spy

SUP = list(range(1025, 1088))  # random model would emit ids > codebook_size that crash the codec


def eos_boost(m, on):
    """Make EOS logit a constant 8.0 for every codebook (LayerNorm bias = s*1, lm_head EOS row = a*1)."""
    ln = m.decoder.model.decoder.layer_norm
    with torch.no_grad():
        if on:
            ln.bias.fill_(0.5)
            for h in m.decoder.lm_heads:
                h.weight[1024].fill_(8.0 / (0.5 * 32))
        else:
            ln.bias.copy_(ref["state_dict"]["decoder.model.decoder.layer_norm.bias"])
            for i, h in enumerate(m.decoder.lm_heads):
                h.weight[1024].copy_(ref["state_dict"][f"decoder.lm_heads.{i}.weight"][1024])


ids1 = torch.tensor([[5, 6, 7, 8, 1]]); pids1 = torch.tensor([[9, 10, 11, 1]])
# batch of 2 with right-padded description and left... (tokenizer default is right padding)
ids2 = torch.tensor([[5, 6, 7, 8, 1], [12, 13, 1, 0, 0]]); am2 = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
pids2 = torch.tensor([[9, 10, 11, 1], [14, 1, 0, 0]]); pam2 = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
base1 = dict(input_ids=ids1, attention_mask=torch.ones_like(ids1), prompt_input_ids=pids1,
             prompt_attention_mask=torch.ones_like(pids1), suppress_tokens=SUP, return_dict_in_generate=True, output_logits=True)
base2 = dict(input_ids=ids2, attention_mask=am2, prompt_input_ids=pids2, prompt_attention_mask=pam2,
             suppress_tokens=SUP, return_dict_in_generate=True, output_logits=True)
CASES = {
    "greedy20": (dict(base1, do_sample=False, max_new_tokens=20), False),
    "static20": (dict(base1, do_sample=False, max_new_tokens=20, cache_implementation="static"), False),
    "sample20_seed": (dict(base1, do_sample=True, max_new_tokens=20), False),
    "sample20_t07_topk5": (dict(base1, do_sample=True, temperature=0.7, top_k=5, max_new_tokens=20), False),
    "eos_min30_max60": (dict(base1, do_sample=False, min_new_tokens=30, max_new_tokens=60), True),
    "eos_min3_max20_short": (dict(base1, do_sample=False, min_new_tokens=3, max_new_tokens=20), True),
    "nomask_greedy20": (dict(input_ids=ids1, prompt_input_ids=pids1, suppress_tokens=SUP, return_dict_in_generate=True,
                             output_logits=True, do_sample=False, max_new_tokens=20), False),
    "noprompt_greedy20": (dict(input_ids=ids1, attention_mask=torch.ones_like(ids1), suppress_tokens=SUP,
                               return_dict_in_generate=True, output_logits=True, do_sample=False, max_new_tokens=20), False),
    "batch2_greedy20": (dict(base2, do_sample=False, max_new_tokens=20), False),
    "batch2_eos": (dict(base2, do_sample=False, min_new_tokens=30, max_new_tokens=60), True),
}
ok = True
for name, (kw, boost) in CASES.items():
    raw.clear(); codes.clear()
    eos_boost(model, boost)
    torch.manual_seed(1234)
    try:
        with torch.no_grad():
            out = model.generate(**kw)
    except Exception as e:  # report and continue
        print(f"[{name}] ERROR {type(e).__name__}: {e}")
        if mode == "save":
            ref["cases"][name] = {"error": type(e).__name__}
        else:
            same = ref["cases"].get(name, {}).get("error") == type(e).__name__
            print(f"[{name}] {'same error as reference' if same else 'ERROR DIFFERS FROM REFERENCE'}")
            ok &= same
        continue
    res = {"raw": raw[0], "codes": [c for c in codes], "audio": out.sequences.clone(),
           "lengths": list(out["audios_length"]), "logits": torch.stack(out.logits)}
    desc = f"raw {tuple(res['raw'].shape)} codes {[tuple(c.shape) for c in res['codes']]} audio {tuple(res['audio'].shape)} lengths {res['lengths']}"
    if mode == "save":
        ref["cases"][name] = res
        print(f"[{name}] {desc}")
        if name.startswith("eos"):
            print("   raw tokens row0 (cb0) / row8 (cb8):", res["raw"][0].tolist(), res["raw"][8].tolist())
            if res["codes"]: print("   codes[0] row0:", res["codes"][0].reshape(-1, res["codes"][0].shape[-1])[0].tolist())
    else:
        r = ref["cases"].get(name)
        if r is not None and "error" in r:
            print(f"[{name}] reference errored ({r['error']}) but this run did not"); ok = False; continue
        if r is None:
            print(f"[{name}] no reference"); continue
        same_raw = r["raw"].shape == res["raw"].shape and torch.equal(r["raw"], res["raw"])
        same_codes = len(r["codes"]) == len(res["codes"]) and all(
            a.shape == b.shape and torch.equal(a, b) for a, b in zip(r["codes"], res["codes"]))
        if r["audio"].shape == res["audio"].shape:
            diff = (r["audio"] - res["audio"]).abs().max().item()
        else:
            diff = float("nan")
        if r["logits"].shape == res["logits"].shape:
            ldiff = (r["logits"] - res["logits"]).abs().max().item()
        else:
            n = min(r["logits"].shape[0], res["logits"].shape[0])
            ldiff = "shape %s vs %s; first %d steps diff %.3g" % (tuple(r["logits"].shape), tuple(res["logits"].shape), n, (r["logits"][:n] - res["logits"][:n]).abs().max().item())
        print(f"[{name}] logits_maxabsdiff={ldiff}")
        print(f"[{name}] {desc} | raw_equal={same_raw} codes_equal={same_codes} audio_maxabsdiff={diff:.3g} lengths_ref={r['lengths']}")
        case_ok = same_raw and same_codes and diff < 1e-4 and isinstance(ldiff, float) and ldiff < 1e-4
        print(f"[{name}] CASE {'OK' if case_ok else 'BAD'}")
        ok &= case_ok
if mode == "save":
    torch.save(ref, path)
    print("saved", path)
else:
    print("ALL MATCH" if ok else "MISMATCH")
