"""The nn.Modules that get exported for ChatTTS: flat tensors in and out, ChatTTS's own modules inside.

ChatTTS's forwards run under `@torch.inference_mode`, write with `out=` and build complex spectra,
which the exporter rejects; these wrappers call the same submodules directly. They are also what
the `torch` backend runs (each kind's `module`, kinds.py).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ttsx.base.errors import TtsxError



class EmbedCode(nn.Module):
    """input_ids [B, T, 4] -> embeds [B, T, H]: the 4 code tables summed in codebook order, as Embed does."""

    def __init__(self, embed):
        super().__init__()
        self.tables = embed.emb_code

    def forward(self, input_ids):
        return torch.stack([table(input_ids[:, :, q]) for q, table in enumerate(self.tables)], 2).sum(2)


class RotaryTable(nn.Module):
    """LlamaRotaryEmbedding as tables: cos and sin of every position, computed once by the module itself.

    The values are the module's own (same elementwise ops per position); the attention op rotates q and k
    with rows of them (GroupQueryAttention's rotary caches, or a gather), so no position passes through a
    float16 tensor (integers above 2048 are not exact in fp16).
    """

    def __init__(self, rotary, positions: int):
        super().__init__()
        with torch.no_grad():
            cos, sin = rotary(torch.zeros(1), torch.arange(positions)[None])  # [1, positions, head_dim]
        half = cos.shape[-1] // 2
        for table in (cos, sin):  # LLaMA's tables repeat their first half; the attention op takes that half
            if not torch.equal(table[..., :half], table[..., half:]):
                raise TtsxError("the rotary tables are not LLaMA's duplicated halves; ttsx's attention op can't "
                                "take them (a rotary variant this exporter does not know)")
        self.register_buffer("cos", cos[0, :, :half].clone())  # [positions, head_dim / 2]
        self.register_buffer("sin", sin[0, :, :half].clone())


class GptStep(nn.Module):
    """ChatTTS's LlamaModel over an in-place cache: the prefill and every step.

        (inputs_embeds [B,S,H], past.* [B,h,C,D], cache_lengths [B], lengths [B])
        -> hidden [B,H] of each row's last new token (after the final RMSNorm), present.* (the past buffers)

    The layers are the LlamaModel's own modules in its order (input_layernorm, q/k/v projections,
    rotary, attention, o_proj, residual, post_attention_layernorm, MLP, residual, norm); the
    attention is ttsx's in-place op, which also applies the rotary embedding by position (RotaryTable's tables).
    Positions are each row's token count, as ChatTTS's cumsum(mask) - 1 gives for its real tokens.
    """

    def __init__(self, llama, flavour: str = "onnxruntime"):
        super().__init__()
        self.llama, self.flavour = llama, flavour
        config = llama.config
        self.rotary = RotaryTable(llama.rotary_emb, config.max_position_embeddings)
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.head_dim = config.hidden_size // config.num_attention_heads

    def forward(self, inputs_embeds, *rest):
        from ttsx.recipes.kv_attention import cache_attention

        past, cache_lengths, lengths = rest[:-2], rest[-2], rest[-1]
        b, s, _ = inputs_embeds.shape
        rotary = (self.rotary.cos.to(inputs_embeds.dtype), self.rotary.sin.to(inputs_embeds.dtype))
        hidden, presents = inputs_embeds, []
        for i, layer in enumerate(self.llama.layers):
            attn, x = layer.self_attn, layer.input_layernorm(hidden)
            q, k, v = (proj(x) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
            out, key, value = cache_attention(q, k, v, past[2 * i], past[2 * i + 1], cache_lengths, lengths,
                                              self.heads, self.kv_heads, self.flavour, rotary=rotary)
            hidden = hidden + attn.o_proj(out)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
            presents += [key, value]
        last = hidden[torch.arange(b, device=hidden.device), lengths.long() - 1]  # [B, H]
        return (self.llama.norm(last), *presents)


class CodeHeads(nn.Module):
    """hidden [B, H] -> logits [B, 4, 626]: each weight-normed head folded into a plain weight."""

    def __init__(self, embed):
        super().__init__()
        self.register_buffer("weights", torch.stack([h.weight.detach().clone() for h in embed.head_code]))

    def forward(self, hidden):
        return torch.stack([F.linear(hidden, w) for w in self.weights], 1)


class TextHead(nn.Module):
    """hidden [B, H] -> logits [B, 21178] (the weight-normed text head, folded)."""

    def __init__(self, embed):
        super().__init__()
        self.register_buffer("weight", embed.head_text.weight.detach().clone())

    def forward(self, hidden):
        return F.linear(hidden, self.weight)


class GfsqEmbed(nn.Module):
    """GFSQ indices [B, G*R, T] -> features [B, G, T, D]: vector_quantize_pytorch's
    GroupedResidualFSQ.get_output_from_indices as gathers and a matmul (its installed version's codebooks)."""

    def __init__(self, gfsq):
        super().__init__()
        groups = gfsq.quantizer.rvqs
        self.G, self.R = gfsq.G, gfsq.R
        table = torch.stack([r.codebooks.float() * r.scales[:, None, :].float() for r in groups])  # [G, R, n, d]
        self.n, self.d = table.shape[2], table.shape[3]
        self.register_buffer("table", table.reshape(-1, self.d).clone())
        self.register_buffer("offset", (torch.arange(self.G * self.R) * self.n).view(1, -1, 1))
        self.register_buffer("w", torch.stack([r.project_out.weight.t() for r in groups]).detach().clone())
        self.register_buffer("b", torch.stack([r.project_out.bias for r in groups]).detach().clone()[:, None, :])

    def forward(self, codes):
        e = F.embedding(codes + self.offset, self.table)  # [B, G*R, T, d]
        e = e.reshape(codes.shape[0], self.G, self.R, e.shape[2], self.d).sum(2)  # residuals summed
        return torch.matmul(e, self.w) + self.b  # [B, G, T, D]


class MelDecoder(nn.Module):
    """DVAE.forward(x, "decode") without inference_mode and `out=`: [B, C*2, T] (or codes) -> mel [B, 100, 2T]."""

    def __init__(self, dvae):
        super().__init__()
        self.embed = GfsqEmbed(dvae.vq_layer) if dvae.vq_layer is not None else None
        self.stack, self.out_conv = dvae.decoder, dvae.out_conv
        self.register_buffer("coef", dvae.coef.detach().clone())
        self.channels = dvae.decoder.conv_in[0].in_channels

    def forward(self, x):
        b = x.shape[0]
        if self.embed is not None:
            features = self.embed(x).permute(0, 3, 2, 1)  # [B, C, T, 2]
        else:
            features = x.reshape(b, 2, self.channels, x.shape[2]).permute(0, 2, 3, 1)  # [B, C, T, 2]
        y = self.stack.conv_in(features.reshape(b, self.channels, -1))  # two frames per token: [B, C', 2T]
        for block in self.stack.decoder_block:
            y = _convnext(block, y)
        return self.out_conv(self.stack.conv_out(y)) * self.coef


def _convnext(block, x):
    """ConvNeXtBlock.forward without its in-place transposes."""
    y = block.pwconv2(block.act(block.pwconv1(block.norm(block.dwconv(x).transpose(1, 2)))))
    if block.weight is not None:
        y = y * block.weight
    return x + y.transpose(1, 2)


class RealIstft(nn.Module):
    """torch.istft(mag * e^(i*phase), n_fft, hop, window, center=True) in real ops (no complex, no DFT).

        spectrum [B, K, T] --cos/sin--> [B, 2K, T] --matmul [2K, N] (irfft basis, window folded in)--> frames [B, T, N]
        frames --split in R = N / hop hops, shift hop j by j, add--> signal [B, (T + R - 1) * hop]
        signal / (the same overlap-add of window^2) --drop N/2 at each end--> [B, (T - 1) * hop]

    The one-sided inverse DFT weights bin 0 and N/2 by 1/N and the others by 2/N; the imaginary parts
    of those two bins do not count, as in torch's C2R transform.
    """

    def __init__(self, n_fft: int, hop: int, window: torch.Tensor):
        super().__init__()
        self.n_fft, self.hop, self.hops = n_fft, hop, n_fft // hop
        w = window.double()
        bins = n_fft // 2 + 1
        k, n = torch.arange(bins, dtype=torch.float64)[:, None], torch.arange(n_fft, dtype=torch.float64)[None]
        angle = 2 * math.pi * ((k * n) % n_fft) / n_fft  # reduced before cos/sin: exact in float64
        scale = torch.full((bins, 1), 2.0 / n_fft, dtype=torch.float64)
        scale[0] = scale[-1] = 1.0 / n_fft
        basis = torch.cat([scale * torch.cos(angle) * w, -scale * torch.sin(angle) * w], 0)  # [2K, N]
        self.register_buffer("basis", basis.float())
        self.register_buffer("window_sq", (w * w).float().view(self.hops, hop))

    def _overlap_add(self, frames):
        """[B, T, R, hop] -> [B, (T + R - 1) * hop] with pads and adds only."""
        out = None
        for j in range(self.hops):
            shifted = F.pad(frames[:, :, j, :], (0, 0, j, self.hops - 1 - j))
            out = shifted if out is None else out + shifted
        return out.flatten(1)

    def forward(self, mag, phase):
        spec = torch.cat([mag * torch.cos(phase), mag * torch.sin(phase)], 1)  # [B, 2K, T]
        frames = torch.matmul(spec.transpose(1, 2), self.basis)  # [B, T, N]
        y = self._overlap_add(frames.reshape(frames.shape[0], frames.shape[1], self.hops, self.hop))
        ones = torch.ones_like(mag[:1, :1, :]).transpose(1, 2).unsqueeze(-1)  # [1, T, 1, 1]
        envelope = self._overlap_add(ones * self.window_sq)
        pad, length = self.n_fft // 2, y.shape[1]
        return y[:, pad: length - pad] / envelope[:, pad: length - pad]


class VocosDecode(nn.Module):
    """mel [B, 100, F] -> waveform [B, (F - 1) * 256]: Vocos.decode with the real-op inverse STFT."""

    def __init__(self, vocos):
        super().__init__()
        self.backbone, self.out = vocos.backbone, vocos.head.out
        istft = vocos.head.istft
        self.istft = RealIstft(istft.n_fft, istft.hop_length, istft.window)

    def forward(self, mel):
        x = self.out(self.backbone(mel)).transpose(1, 2)  # [B, n_fft + 2, F]
        mag, phase = x.chunk(2, dim=1)
        return self.istft(torch.clip(torch.exp(mag), max=1e2), phase)
