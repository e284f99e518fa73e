"""The nn.Modules that get exported: flat tensors in, flat tensors out, HF Bark modules inside.

No HF Cache object crosses the export boundary: the causal wrappers run BarkCausalModel's layers
over a fixed-capacity cache that `recipes/kv_attention.py` updates in place.
These modules are also what the `torch` runtime backend runs (each kind's `module`, kinds.py).
"""
from __future__ import annotations

import torch
from torch import nn



def semantic_prefill_embeds(semantic, text_ids, history_ids, infer_token: int) -> torch.Tensor:
    """BarkSemanticModel.generate's merge: emb(text) + emb(history), then emb(infer). -> [B, 257, H]."""
    embed = semantic.input_embeds_layer
    infer = torch.full_like(text_ids[:, :1], infer_token)  # [B, 1]
    return torch.cat([embed(text_ids) + embed(history_ids), embed(infer)], dim=1)


class CausalStep(nn.Module):
    """A Bark GPT over an in-place cache: the prefill and every decode step.

        (input_ids [B,S], [history_ids [B,S]], past.* [B,h,C,D], cache_lengths [B], lengths [B])
        -> logits [B,V] of each row's last new token, present.* (the past buffers, written in place)

    The layers are BarkCausalModel's own modules, run in its order (embeddings + positions,
    layernorm_1, att_proj, attention, out_proj, residual, layernorm_2, MLP, residual, layernorm_final,
    lm_head); only the attention is ttsx's (recipes/kv_attention.py: one op, two ONNX flavours).
    """

    def __init__(self, gpt, flavour: str = "onnxruntime", history: bool = False):
        super().__init__()
        self.gpt, self.flavour, self.history = gpt, flavour, history
        self.hidden, self.heads = gpt.config.hidden_size, gpt.config.num_heads

    def forward(self, input_ids, *rest):
        from ttsx.recipes.kv_attention import cache_attention

        history_ids, rest = (rest[0], rest[1:]) if self.history else (None, rest)
        past, cache_lengths, lengths = rest[:-2], rest[-2], rest[-1]
        embed = self.gpt.input_embeds_layer
        hidden = embed(input_ids)  # [B, S, H]
        if history_ids is not None:  # the prefill's text + history merge; -1 adds nothing
            hidden = hidden + torch.where((history_ids >= 0).unsqueeze(-1), embed(history_ids.clamp(min=0)), 0.0)
        positions = cache_lengths.long().unsqueeze(1) + torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = hidden + self.gpt.position_embeds_layer(positions)
        presents = []
        for i, block in enumerate(self.gpt.layers):
            q, k, v = block.attn.att_proj(block.layernorm_1(hidden)).split(self.hidden, dim=2)
            out, key, value = cache_attention(q, k, v, past[2 * i], past[2 * i + 1], cache_lengths, lengths,
                                              self.heads, self.heads, self.flavour)
            hidden = hidden + block.attn.out_proj(out)
            hidden = hidden + block.mlp(block.layernorm_2(hidden))
            presents += [key, value]
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths.long() - 1]  # [B, H]
        return (self.gpt.lm_head(self.gpt.layernorm_final(last)), *presents)


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


def folded_codec(codec):
    """A fresh copy of the codec with weight norm folded into plain conv weights (the reference is untouched)."""
    from torch.nn.utils import parametrize

    folded = type(codec)(codec.config).eval()
    folded.load_state_dict(codec.state_dict())
    for module in folded.modules():
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    return folded
