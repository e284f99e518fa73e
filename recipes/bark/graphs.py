"""The nn.Modules that get exported: flat tensors in, flat tensors out, HF Bark modules inside.

No HF Cache object crosses the export boundary: the causal wrappers build a DynamicCache from the
flat `past_key_values.{i}.key|value` tensors and flatten the updated cache into `present.*`.
These modules are also what the `torch` runtime backend runs (through BarkFamily.graph_module).
"""
from __future__ import annotations

import torch
from torch import nn

from ttsx.recipes.spec import GraphSpec

from .recipe import BarkRecipe


def flatten_cache(cache) -> list[torch.Tensor]:
    """[k0, v0, k1, v1, ...] from a transformers Cache; each [B, H, S, D]."""
    flat = []
    for layer in cache.layers:
        flat += [layer.keys, layer.values]
    return flat


def build_cache(past: tuple[torch.Tensor, ...]):
    """A DynamicCache holding flat [k0, v0, k1, v1, ...] tensors."""
    from transformers.cache_utils import DynamicCache

    return DynamicCache(ddp_cache_data=[(past[i], past[i + 1]) for i in range(0, len(past), 2)])


def semantic_prefill_embeds(semantic, text_ids, history_ids, infer_token: int) -> torch.Tensor:
    """BarkSemanticModel.generate's merge: emb(text) + emb(history), then emb(infer). -> [B, 257, H]."""
    embed = semantic.input_embeds_layer
    infer = torch.full_like(text_ids[:, :1], infer_token)  # [B, 1]
    return torch.cat([embed(text_ids) + embed(history_ids), embed(infer)], dim=1)


class SemanticPrefill(nn.Module):
    """(text_ids [B,256], history_ids [B,256]) -> logits [B,V], present.* [B,H,257,D]."""

    def __init__(self, semantic, infer_token: int):
        super().__init__()
        self.gpt, self.infer_token = semantic, infer_token

    def forward(self, text_ids, history_ids):
        embeds = semantic_prefill_embeds(self.gpt, text_ids, history_ids, self.infer_token)
        out = self.gpt(inputs_embeds=embeds, use_cache=True)
        return (out.logits[:, -1, :], *flatten_cache(out.past_key_values))


class CausalPrefill(nn.Module):
    """input_ids [B,T] -> logits of the last position [B,V], present.* [B,H,T,D]."""

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids):
        out = self.gpt(input_ids=input_ids, use_cache=True)
        return (out.logits[:, -1, :], *flatten_cache(out.past_key_values))


class CausalDecode(nn.Module):
    """(input_ids [B,1], past.* [B,H,P,D]) -> logits [B,V], present.* [B,H,P+1,D]."""

    def __init__(self, gpt):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids, *past):
        out = self.gpt(input_ids=input_ids, past_key_values=build_cache(past), use_cache=True)
        return (out.logits[:, -1, :], *flatten_cache(out.past_key_values))


class FineLogits(nn.Module):
    """(input_ids [B,T,8], codebook_idx []) -> logits [B,T,V] for that codebook.

    BarkFineModel.forward takes the codebook index as a Python int; here it is a tensor: it masks
    the per-codebook embedding sum (codebooks 0..idx) and gathers the head from a stacked weight.
    """

    def __init__(self, fine):
        super().__init__()
        self.fine = fine
        self.n_given = fine.config.n_codes_given
        heads = torch.stack([head.weight.detach() for head in fine.lm_heads])  # [n_heads, V, H]
        self.register_buffer("heads", heads, persistent=False)

    def forward(self, input_ids, codebook_idx):
        n_codes = input_ids.shape[-1]
        embeds = torch.stack([emb(input_ids[:, :, j]) for j, emb in enumerate(self.fine.input_embeds_layers)], -1)
        mask = (torch.arange(n_codes, device=input_ids.device) <= codebook_idx).to(embeds.dtype)  # [8]
        hidden = (embeds * mask).sum(-1)  # [B, T, H]
        positions = torch.arange(input_ids.shape[1], device=input_ids.device).unsqueeze(0)
        hidden = hidden + self.fine.position_embeds_layer(positions)
        for block in self.fine.layers:
            hidden = block(hidden)[0]
        hidden = self.fine.layernorm_final(hidden)
        head = torch.index_select(self.heads, 0, (codebook_idx - self.n_given).reshape(1))[0]  # [V, H]
        return torch.matmul(hidden, head.transpose(0, 1))


class CodecDecode(nn.Module):
    """codes [B,8,F] -> waveform [B,1,F*320]: EnCodec quantizer decode then decoder."""

    def __init__(self, codec):
        super().__init__()
        self.codec = codec

    def forward(self, codes):
        embeddings = self.codec.quantizer.decode(codes.transpose(0, 1))  # [B, D, F]
        return self.codec.decoder(embeddings)


def graph_module(model, recipe: BarkRecipe, spec: GraphSpec) -> nn.Module:
    """The wrapper module to export for `spec`, over the reference BarkModel's sub-models."""
    gpt = {"semantic": model.semantic, "coarse": model.coarse_acoustics}.get(spec.stage)
    builders = {
        "semantic_prefill": lambda: SemanticPrefill(gpt, recipe.constants.semantic_infer),
        "causal_prefill": lambda: CausalPrefill(gpt),
        "causal_decode": lambda: CausalDecode(gpt),
        "fine": lambda: FineLogits(model.fine_acoustics),
        "codec": lambda: CodecDecode(_folded_codec(model.codec_model)),
    }
    return builders[spec.kind]().eval()


def _folded_codec(codec):
    """A fresh copy of the codec with weight norm folded into plain conv weights (the reference is untouched)."""
    from torch.nn.utils import parametrize

    folded = type(codec)(codec.config).eval()
    folded.load_state_dict(codec.state_dict())
    for module in folded.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return folded
