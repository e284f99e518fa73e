"""descript's DAC (every released Parler-TTS checkpoint's codec: parler's DACModel, `dac_on_the_hub`) read as
transformers' DacModel: weights renamed and weight norm folded, straight from the snapshot, without the `dac`
package (it pins protobuf<3.20, which breaks onnx).

    descript's name (DACModel.model.*)                 transformers' DacModel
    encoder.block.0                                    encoder.conv1
    encoder.block.{i}.block.{j}.block.{0,1,2,3}        encoder.block.{i-1}.res_unit{j+1}.{snake1,conv1,snake2,conv2}
    encoder.block.{i}.block.{3,4}                      encoder.block.{i-1}.{snake1,conv1}
    encoder.block.{N+1,N+2}  (N blocks)                encoder.{snake1,conv2}
    decoder.model.0                                    decoder.conv1
    decoder.model.{i}.block.{0,1}                      decoder.block.{i-1}.{snake1,conv_t1}
    decoder.model.{i}.block.{j}.block.{0..3}, j=2..4   decoder.block.{i-1}.res_unit{j-1}.{snake1,conv1,snake2,conv2}
    decoder.model.{M+1,M+2}  (M blocks; M+3 is Tanh)   decoder.{snake1,conv2}
    quantizer.quantizers.{k}.{in_proj,out_proj,codebook}  the same

A weight-normed convolution stores g and v (`weight_g`/`weight_v`, or torch's newer
`parametrizations.weight.original0/1`, which parler's DACModel applies): weight = g * v / ||v||, the norm
over every axis but the first (torch's weight_norm at dim 0, for Conv1d and ConvTranspose1d alike).
"""
from __future__ import annotations

import re

from ttsx.base.errors import SourceError

HUB_TYPE = "dac_on_the_hub"  # parler's DACConfig.model_type on transformers > 4.44
UNIT = ("snake1", "conv1", "snake2", "conv2")  # a residual unit's four layers, in order
DESCRIPT_DEFAULTS = dict(encoder_hidden_size=64, downsampling_ratios=[2, 4, 8, 8], decoder_hidden_size=1536,
                         upsampling_ratios=[8, 8, 4, 2], codebook_dim=8)  # what DACModel leaves at DAC's defaults
NORMED = (("weight_g", "weight_v"), ("parametrizations.weight.original0", "parametrizations.weight.original1"))


def dac_config(descript: dict):
    """transformers' DacConfig for parler's DACConfig (num_codebooks, latent_dim, codebook_size, sampling_rate;
    DACModel builds descript's DAC with its defaults for the rest)."""
    from transformers import DacConfig

    try:
        return DacConfig(n_codebooks=descript["num_codebooks"], hidden_size=descript["latent_dim"],
                         codebook_size=descript["codebook_size"], sampling_rate=descript["sampling_rate"],
                         **DESCRIPT_DEFAULTS)
    except KeyError as exc:
        raise SourceError(f"the snapshot's audio_encoder config (model_type {HUB_TYPE!r}) lacks {exc}") from None


def convert(state: dict, blocks: int) -> dict:
    """descript DAC weights (names relative to DACModel.model) -> DacModel's, weight norm folded."""
    import torch

    folded, pending = {}, dict(state)
    for name in [n for n in state if n.endswith((NORMED[0][0], NORMED[1][0]))]:
        g_suffix, v_suffix = next(pair for pair in NORMED if name.endswith(pair[0]))
        base = name[: -len(g_suffix)]
        if base + v_suffix not in state:
            raise SourceError(f"the DAC weights hold {name} without its {v_suffix}")
        g, v = pending.pop(name), pending.pop(base + v_suffix)
        folded[base + "weight"] = torch._weight_norm(v.float(), g.float(), 0)
    folded.update(pending)
    return {rename(name, blocks): value for name, value in folded.items()}


def rename(name: str, blocks: int) -> str:
    """One descript DAC name -> transformers' (`blocks`: encoder and decoder blocks, 4 in every release)."""
    if name.startswith("quantizer."):
        return name
    part, _, leaf = name.rpartition(".")  # leaf: weight, bias or alpha
    for pattern, build in _rules(blocks):
        match = re.fullmatch(pattern, part)
        if match:
            return f"{build(*map(int, match.groups()))}.{leaf}"
    raise SourceError(f"unexpected descript DAC weight {name}: not a layer of DAC's encoder, decoder or quantizer")


def _rules(n: int) -> tuple:
    """(name pattern, builder of the new name) per layer, for `n` encoder and decoder blocks."""
    return (
        (r"encoder\.block\.0", lambda: "encoder.conv1"),
        (r"encoder\.block\.(\d+)\.block\.([0-2])\.block\.([0-3])",
         lambda i, j, k: f"encoder.block.{i - 1}.res_unit{j + 1}.{UNIT[k]}"),
        (r"encoder\.block\.(\d+)\.block\.3", lambda i: f"encoder.block.{i - 1}.snake1"),
        (r"encoder\.block\.(\d+)\.block\.4", lambda i: f"encoder.block.{i - 1}.conv1"),
        (rf"encoder\.block\.{n + 1}", lambda: "encoder.snake1"),
        (rf"encoder\.block\.{n + 2}", lambda: "encoder.conv2"),
        (r"decoder\.model\.0", lambda: "decoder.conv1"),
        (r"decoder\.model\.(\d+)\.block\.0", lambda i: f"decoder.block.{i - 1}.snake1"),
        (r"decoder\.model\.(\d+)\.block\.1", lambda i: f"decoder.block.{i - 1}.conv_t1"),
        (r"decoder\.model\.(\d+)\.block\.([2-4])\.block\.([0-3])",
         lambda i, j, k: f"decoder.block.{i - 1}.res_unit{j - 1}.{UNIT[k]}"),
        (rf"decoder\.model\.{n + 1}", lambda: "decoder.snake1"),
        (rf"decoder\.model\.{n + 2}", lambda: "decoder.conv2"),
    )
