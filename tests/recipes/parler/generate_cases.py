"""Run parler_tts's generate on given weights and cases; save the raw ids and the audio (a script, not a test).

    python generate_cases.py IN.pt OUT.pt

Run twice by test_cross_version.py: by the main interpreter (transformers 5, parler_tts patched by ttsx at
import) and by a venv holding transformers 4.46.1, the version parler-tts pins, where it runs unpatched
(its descript DAC is installed there, unused: these models decode with transformers' DacModel). The two outputs must agree.
It imports nothing of ttsx under transformers 4.
"""
import sys

import torch
import transformers

if int(transformers.__version__.split(".")[0]) >= 5:
    from ttsx.recipes.families.parler.reference import import_parler

    import_parler()
else:  # the reference venv: descript's DAC (parler's dac_wrapper imports it) with audiotools' stand-ins
    import stand_ins

    stand_ins.install()

from parler_tts import ParlerTTSConfig, ParlerTTSDecoderConfig, ParlerTTSForConditionalGeneration  # noqa: E402
from transformers import DacConfig, T5Config  # noqa: E402


def build(data):
    config = ParlerTTSConfig.from_sub_models_config(T5Config(**data["t5"]), DacConfig(**data["dac"]),
                                                    ParlerTTSDecoderConfig(**data["decoder"]),
                                                    vocab_size=data["t5"]["vocab_size"], prompt_cross_attention=False)
    model = ParlerTTSForConditionalGeneration(config).eval()
    for module in model.modules():  # transformers 4.46's DAC keeps weight norm; 5's state dict is folded
        if hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
        elif torch.nn.utils.parametrize.is_parametrized(module, "weight"):
            torch.nn.utils.parametrize.remove_parametrizations(module, "weight")
    return model


def main(source: str, target: str) -> None:
    data = torch.load(source, weights_only=False)
    model = build(data)
    raw, sample = [], model._sample

    def spy(*args, **kwargs):
        out = sample(*args, **kwargs)
        raw.append((out.sequences if hasattr(out, "sequences") else out).clone())
        return out

    model._sample = spy
    results = {}
    for case in data["cases"]:
        model.load_state_dict(data["weights"][case["weights"]], strict=True)
        g = model.generation_config
        g.decoder_start_token_id = g.bos_token_id = data["decoder"]["bos_token_id"]
        g.pad_token_id = g.eos_token_id = data["decoder"]["pad_token_id"]
        g.do_sample = True
        raw.clear()
        torch.manual_seed(case["seed"])
        with torch.no_grad():
            audio = model.generate(**case["inputs"], **case["kwargs"])
        results[case["name"]] = {"raw": raw[0], "audio": audio}
    torch.save({"transformers": transformers.__version__, "results": results}, target)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
