"""Save a Parler-TTS snapshot with descript's DAC the way parler's own code does, and generate with it (a script
run in the reference venv: transformers 4.46.1, parler-tts 0.2.3, descript-audio-codec 1.0.0).

    python make_descript_snapshot.py IN.pt SNAPSHOT_DIR OUT.pt [SHARDED_DIR]

IN.pt: the T5 and decoder configs and weights (ttsx's tiny random ones), the DAC config, a seed, generate cases
and codes to decode. The model is ParlerTTSConfig.from_sub_models_config(T5, DACConfig, decoder), as parler's
init scripts build it, with a seeded DAC whose codebooks are redrawn at unit scale (codes then matter) and whose
last convolution is scaled to audio of std ~0.1; save_pretrained writes the snapshot (config.json with
`dac_on_the_hub`, model.safetensors, generation_config.json), and SHARDED_DIR the same sharded as
save_pretrained shards large models (max_shard_size 100MB: model-0000k-of-0000n.safetensors + an index). OUT.pt: for each case the codes the codec got
and the audio generate returned, and the DAC's own decode of the given codes.
"""
import sys

import stand_ins

stand_ins.install()

import torch  # noqa: E402
import transformers  # noqa: E402
from parler_tts import DACConfig, ParlerTTSConfig, ParlerTTSDecoderConfig, ParlerTTSForConditionalGeneration  # noqa: E402
from transformers import T5Config  # noqa: E402

AUDIO_STD = 0.1


def build(data):
    config = ParlerTTSConfig.from_sub_models_config(T5Config(**data["t5"]), DACConfig(**data["dac"]),
                                                    ParlerTTSDecoderConfig(**data["decoder"]),
                                                    vocab_size=data["t5"]["vocab_size"], prompt_cross_attention=False)
    torch.manual_seed(data["seed"])
    model = ParlerTTSForConditionalGeneration(config).eval()
    missing, unexpected = model.load_state_dict(data["weights"], strict=False)
    assert not unexpected and all(k.startswith("audio_encoder.") for k in missing), (missing[:5], unexpected[:5])
    dac = model.audio_encoder.model
    generator = torch.Generator().manual_seed(data["seed"])
    with torch.no_grad():
        for quantizer in dac.quantizer.quantizers:
            quantizer.codebook.weight.copy_(torch.randn(quantizer.codebook.weight.shape, generator=generator))
        codes = torch.randint(0, data["dac"]["codebook_size"], (1, 1, data["dac"]["num_codebooks"], 16),
                              generator=generator)
        std = float(model.audio_encoder.decode(codes, [None]).audio_values.std())
        last = dac.decoder.model[-2]  # the last WNConv1d (Tanh follows): its weight norm's g, and its bias
        last.parametrizations.weight.original0.mul_(AUDIO_STD / std)
        last.bias.mul_(AUDIO_STD / std)
    g = model.generation_config
    g.decoder_start_token_id = g.bos_token_id = data["decoder"]["bos_token_id"]
    g.pad_token_id = g.eos_token_id = data["decoder"]["pad_token_id"]
    g.do_sample = False
    return model


def main(source: str, snapshot: str, target: str, sharded: str | None = None) -> None:
    data = torch.load(source, weights_only=False)
    model = build(data)
    model.save_pretrained(snapshot)
    if sharded:
        model.save_pretrained(sharded, max_shard_size="100MB")
    seen, decode = [], model.audio_encoder.decode

    def spy(*args, **kwargs):
        seen.append(kwargs["audio_codes"].clone())
        return decode(*args, **kwargs)

    model.audio_encoder.decode = spy
    results = []
    for case in data["cases"]:
        seen.clear()
        with torch.no_grad():
            audio = model.generate(**case["inputs"], do_sample=False, max_new_tokens=case["max_new_tokens"],
                                   **case.get("kwargs", {}))
        results.append({"codes": seen[0][0] if seen else None, "audio": audio})
    with torch.no_grad():
        decoded = decode(data["codes"], [None]).audio_values
    torch.save({"transformers": transformers.__version__, "results": results, "decoded": decoded}, target)


if __name__ == "__main__":
    main(*sys.argv[1:5])
