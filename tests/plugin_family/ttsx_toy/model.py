"""The toy family's PyTorch reference (transformers' GPT2LMHeadModel and a small vocoder) and the LM's export wrapper."""
from __future__ import annotations

import torch
from torch import nn

from ttsx.base.errors import SourceError
from ttsx.recipes.source import fill_degenerate_buffers
from ttsx.recipes.kv_attention import cache_attention

from .recipe import CODES, HOP, VOCAB


class Vocoder(nn.Module):
    """codes [B, T] -> waveform [B, T * HOP]: an embedding, a convolution, tanh, a transposed convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.embed = nn.Embedding(CODES, channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.up = nn.ConvTranspose1d(channels, 1, HOP, stride=HOP)

    def forward(self, codes):
        x = self.embed(codes).transpose(1, 2)  # [B, C, T]
        return self.up(torch.tanh(self.conv(x)))[:, 0]


class ToyModel(nn.Module):
    """The reference: `lm` (GPT2LMHeadModel) and `vocoder`."""

    def __init__(self, recipe):
        super().__init__()
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(vocab_size=VOCAB, n_positions=recipe.positions, n_embd=recipe.hidden,
                            n_layer=recipe.layers, n_head=recipe.heads)
        self.lm = GPT2LMHeadModel(config).eval()
        self.vocoder = Vocoder(recipe.vocoder_channels).eval()


def load_reference(recipe, source) -> ToyModel:
    """Seeded random weights (the toy family has no checkpoints)."""
    if source.origin != "random":
        raise SourceError("the toy family has no checkpoints: use --random-weights")
    torch.manual_seed(source.seed)
    model = ToyModel(recipe).eval()
    fill_degenerate_buffers(model, torch.Generator().manual_seed(source.seed))
    return model


class LmStep(nn.Module):
    """GPT-2's own modules in its order over an in-place cache; only the attention is ttsx's op."""

    def __init__(self, lm, flavour: str = "onnxruntime"):
        super().__init__()
        self.lm, self.flavour = lm, flavour
        self.hidden, self.heads = lm.config.n_embd, lm.config.n_head

    def forward(self, input_ids, *rest):
        past, cache_lengths, lengths = rest[:-2], rest[-2], rest[-1]
        gpt = self.lm.transformer
        positions = cache_lengths.long().unsqueeze(1) + torch.arange(input_ids.shape[1], device=input_ids.device)
        hidden = gpt.wte(input_ids) + gpt.wpe(positions)
        presents = []
        for i, block in enumerate(gpt.h):
            q, k, v = block.attn.c_attn(block.ln_1(hidden)).split(self.hidden, dim=2)
            out, key, value = cache_attention(q, k, v, past[2 * i], past[2 * i + 1], cache_lengths, lengths,
                                              self.heads, self.heads, self.flavour)
            hidden = hidden + block.attn.c_proj(out)
            hidden = hidden + block.mlp(block.ln_2(hidden))
            presents += [key, value]
        last = hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths.long() - 1]
        return (self.lm.lm_head(gpt.ln_f(last)), *presents)
