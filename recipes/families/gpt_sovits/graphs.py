"""The nn.Modules that get exported for GPT-SoVITS: flat tensors in and out, upstream's own modules inside.

Upstream's t2s blocks are TorchScript classes (`T2SBlock`) over the weights of its nn layers; the
wrappers here run the same math on those nn layers' parameters, with ttsx's in-place cache attention
(prefix-LM: the text attends to all text, audio to all text and earlier audio, as `infer_panel_naive`'s
xy_attn_mask says). The VITS decode runs upstream's export-friendly `models_onnx.SynthesizerTrn`
modules (its `attentions_onnx`), loaded with the reference's own weights, with `decode`'s noise as an
input. These are also what the `torch` backend runs (each kind's `module`, kinds.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ttsx.base.errors import TtsxError


class EmbedText(nn.Module):
    """phoneme_ids [B, X], bert_features [B, 1024, X] -> embeds [B, X, H] (infer_panel_naive's first three lines)."""

    def __init__(self, t2s):
        super().__init__()
        self.t2s = t2s

    def forward(self, phoneme_ids, bert_features):
        t = self.t2s
        return t.ar_text_position(t.ar_text_embedding(phoneme_ids) + t.bert_proj(bert_features.transpose(1, 2)))


class EmbedAudio(nn.Module):
    """semantic_ids [B, T], positions [B, T] -> embeds [B, T, H]: the audio embedding plus alpha * pe[position]
    (the prompt's ar_audio_position, and each step's `y_emb * x_scale + alpha * pe[:, y_len + idx]`)."""

    def __init__(self, t2s):
        super().__init__()
        table = t2s.ar_audio_position
        self.embedding, self.alpha, self.x_scale = t2s.ar_audio_embedding, table.alpha, table.x_scale
        self.register_buffer("pe", table.pe[0].detach().clone())  # [positions, H]

    def forward(self, semantic_ids, positions):
        return self.embedding(semantic_ids) * self.x_scale + self.alpha * self.pe[positions]


class T2SStep(nn.Module):
    """The t2s transformer over an in-place cache: the prefix-LM prefill and every step.

        (inputs_embeds [B,S,H], text_lengths [B], past.* [B,h,C,D], cache_lengths [B], lengths [B])
        -> logits [B, semantic] of each row's last new position (ar_predict_layer), present.* (the past buffers)

    Each layer is T2SBlock's math on its nn layer's weights: qkv, attention, out projection, post-norm
    residual, ReLU MLP, post-norm residual.
    """

    def __init__(self, t2s, flavour: str = "onnxruntime"):
        super().__init__()
        self.t2s, self.flavour = t2s, flavour
        self.heads, self.hidden = t2s.num_head, t2s.model_dim
        if t2s.norm_first:
            raise TtsxError("this t2s model is pre-norm (norm_first); upstream's v2 is post-norm, which ttsx exports")

    def forward(self, inputs_embeds, text_lengths, *rest):
        from ttsx.recipes.kv_attention import cache_attention

        past, cache_lengths, lengths = rest[:-2], rest[-2], rest[-1]
        b, h, presents = inputs_embeds.shape[0], inputs_embeds, []
        prefix = torch.minimum(text_lengths, cache_lengths + lengths)  # a row's text is at most its positions
        for i, layer in enumerate(self.t2s.h.layers):
            attention, n1, n2 = layer.self_attn, layer.norm1, layer.norm2
            q, k, v = F.linear(h, attention.in_proj_weight, attention.in_proj_bias).chunk(3, dim=-1)
            out, key, value = cache_attention(q, k, v, past[2 * i], past[2 * i + 1], cache_lengths, lengths,
                                              self.heads, self.heads, self.flavour, prefix_lengths=prefix)
            h = F.layer_norm(h + F.linear(out, attention.out_proj.weight, attention.out_proj.bias), [self.hidden],
                             n1.weight, n1.bias, n1.eps)
            mlp = F.linear(F.relu(F.linear(h, layer.linear1.weight, layer.linear1.bias)), layer.linear2.weight,
                           layer.linear2.bias)
            h = F.layer_norm(h + mlp, [self.hidden], n2.weight, n2.bias, n2.eps)
            presents += [key, value]
        last = h[torch.arange(b, device=h.device), lengths.long() - 1]  # [B, H]
        return (self.t2s.ar_predict_layer(last), *presents)


class VitsDecode(nn.Module):
    """SynthesizerTrn.decode (v2, speed 1) with its noise as an input, on models_onnx's modules:

        (codes [1, 1, T], phoneme_ids [1, X], refer [1, 1025, F], noise [1, inter, 2T]) -> audio [1, 1, 2T * hop]
    """

    def __init__(self, reference, noise_scale: float):
        super().__init__()
        vits = reference.vits
        onnx_vits = reference.upstream.models_onnx.SynthesizerTrn(**_constructor_kwargs(vits))
        missing, _ = onnx_vits.load_state_dict(vits.state_dict(), strict=False)
        missing = [k for k in missing if ".spk_emb_linear." not in k]  # attentions_onnx.Encoder builds it, never runs it
        if missing:
            raise TtsxError(f"upstream's models_onnx.SynthesizerTrn lacks the reference's weights {missing[:3]}; "
                            "its checkout's models.py and models_onnx.py disagree")
        self.vits, self.noise_scale = onnx_vits.eval(), noise_scale

    def forward(self, codes, phoneme_ids, refer, noise):
        return self.decode(codes, phoneme_ids, refer, noise, None)

    def decode(self, codes, phoneme_ids, refer, noise, sv_emb):
        """decode's body; `sv_emb` [1, 20480] joins the reference encoder's `ge` for v2Pro/ProPlus."""
        v = self.vits
        refer_mask = torch.ones_like(refer[:1, :1, :])
        ge = v.ref_enc(refer[:, :704] * refer_mask, refer_mask)  # [1, gin, 1]
        text_ge = ge
        if sv_emb is not None:  # decode's get_ge for v2Pro: ge + sv_emb(emb), PReLU; the text encoder reads 512 wide
            ge = v.prelu(ge + v.sv_emb(sv_emb).unsqueeze(-1))
            text_ge = v.ge_to512(ge.transpose(2, 1)).transpose(2, 1)
        quantized = v.quantizer.decode(codes)  # [1, ssl, T]
        quantized = torch.cat([quantized, quantized]).permute(1, 2, 0).contiguous().view(1, v.ssl_dim, -1)  # 25 -> 50 Hz
        _, m_p, logs_p, y_mask = v.enc_p(quantized, phoneme_ids, text_ge, 1)
        z_p = m_p + noise * torch.exp(logs_p) * self.noise_scale
        z = v.flow(z_p, y_mask, g=ge, reverse=True)
        return v.dec(z * y_mask, g=ge)


class VitsDecodePro(VitsDecode):
    """v2Pro/ProPlus: (codes, phoneme_ids, refer, noise, sv_emb [1, 20480]) -> audio [1, 1, 2T * hop]."""

    def forward(self, codes, phoneme_ids, refer, noise, sv_emb):
        return self.decode(codes, phoneme_ids, refer, noise, sv_emb)


class VitsChunk(VitsDecode):
    """decode_streaming (v2, speed 1): one streamed chunk's audio and the latent the next chunk fades from.

        (codes [1, 1, T], phoneme_ids [1, X], refer [1, 1025, F], noise [1, inter, frames],
         overlap [1, hidden, n], fade [2, n]) -> audio [1, 1, frames * hop], latent [1, hidden, frames]

    The text encoder runs over every id so far; its output keeps the last `frames` frames (the noise's
    length: decode_streaming's result_length, doubled at 25 Hz), whose first n frames become
    fade[0] * frames + fade[1] * overlap (upstream's sine crossfade with the previous chunk's latent;
    fade = [1.., 0..] leaves them as they are, as a first chunk's decode does). Then flow and decoder
    on those frames only, as in decode.
    """

    def forward(self, codes, phoneme_ids, refer, noise, overlap, fade):
        return self.chunk(codes, phoneme_ids, refer, noise, overlap, fade, None)

    def chunk(self, codes, phoneme_ids, refer, noise, overlap, fade, sv_emb):
        v = self.vits
        enc = v.enc_p
        refer_mask = torch.ones_like(refer[:1, :1, :])
        ge = v.ref_enc(refer[:, :704] * refer_mask, refer_mask)
        text_ge = ge
        if sv_emb is not None:
            ge = v.prelu(ge + v.sv_emb(sv_emb).unsqueeze(-1))
            text_ge = v.ge_to512(ge.transpose(2, 1)).transpose(2, 1)
        quantized = v.quantizer.decode(codes)
        y = torch.cat([quantized, quantized]).permute(1, 2, 0).contiguous().view(1, v.ssl_dim, -1)  # 25 -> 50 Hz
        y_mask = torch.ones_like(y[:1, :1, :])
        y = enc.ssl_proj(y * y_mask) * y_mask
        y = enc.encoder_ssl(y * y_mask, y_mask)
        text_mask = torch.ones_like(phoneme_ids).to(y.dtype).unsqueeze(0)
        text = enc.encoder_text(enc.text_embedding(phoneme_ids).transpose(1, 2) * text_mask, text_mask)
        y = enc.mrte(y, y_mask, text, text_mask, text_ge)
        y = enc.encoder2(y * y_mask, y_mask)
        y = y[:, :, y.shape[2] - noise.shape[2]:]  # result_length
        n = overlap.shape[2]
        y = torch.cat([fade[0] * y[:, :, :n] + fade[1] * overlap, y[:, :, n:]], 2)
        y_mask = torch.ones_like(y[:1, :1, :])
        m_p, logs_p = torch.split(enc.proj(y) * y_mask, enc.out_channels, dim=1)
        z = v.flow(m_p + noise * torch.exp(logs_p) * self.noise_scale, y_mask, g=ge, reverse=True)
        return v.dec(z * y_mask, g=ge), y


class VitsChunkPro(VitsChunk):
    """v2Pro/ProPlus: VitsChunk's inputs and sv_emb [1, 20480]."""

    def forward(self, codes, phoneme_ids, refer, noise, overlap, fade, sv_emb):
        return self.chunk(codes, phoneme_ids, refer, noise, overlap, fade, sv_emb)


def _constructor_kwargs(vits) -> dict:
    """The keyword arguments the reference SynthesizerTrn was built with (read back from it)."""
    return dict(spec_channels=vits.spec_channels, segment_size=vits.segment_size, inter_channels=vits.inter_channels,
                hidden_channels=vits.hidden_channels, filter_channels=vits.filter_channels, n_heads=vits.n_heads,
                n_layers=vits.n_layers, kernel_size=vits.kernel_size, p_dropout=vits.p_dropout,
                resblock=vits.resblock, resblock_kernel_sizes=vits.resblock_kernel_sizes,
                resblock_dilation_sizes=vits.resblock_dilation_sizes, upsample_rates=vits.upsample_rates,
                upsample_initial_channel=vits.upsample_initial_channel,
                upsample_kernel_sizes=vits.upsample_kernel_sizes, n_speakers=vits.n_speakers,
                gin_channels=vits.gin_channels, semantic_frame_rate=vits.semantic_frame_rate,
                freeze_quantizer=vits.freeze_quantizer, version=vits.version)


class ClipIds(nn.Module):
    """A reference clip's prompt ids, as get_tts_wav makes them:

        wav16k [1, samples] ──cnhubert (HubertModel)──> last_hidden_state [1, T50, 768] ──transpose──>
        ──SoVITS ssl_proj (25 Hz)──> [1, 768, T25] ──quantizer.encode──> codes [1, 1, T25]
    """

    def __init__(self, reference):
        super().__init__()
        self.hubert, self.vits = reference.hubert, reference.vits

    def forward(self, wav16k):
        features = self.hubert(wav16k).last_hidden_state.transpose(1, 2)
        return self.vits.quantizer.encode(self.vits.ssl_proj(features)).transpose(0, 1)


class SpeakerEmbedding(nn.Module):
    """v2Pro's speaker-verification embedding (sv.py compute_embedding3): fbank [1, frames, 80] -> sv_emb [1, 20480]
    by ERes2NetV2's forward3 (its last fused feature map, flattened over channels and bins, averaged over time)."""

    def __init__(self, reference):
        super().__init__()
        self.sv = reference.sv

    def forward(self, fbank):
        return self.sv.forward3(fbank.clone())  # forward3 unsqueezes its input in place
