"""The nn.Modules that get exported for Parler-TTS: flat tensors in and out, parler_tts's own modules inside.

    Encoder       description ids and mask -> each decoder layer's cross-attention keys and values
                  (T5, the projection to the decoder's width, times the mask, as generate does; then
                  each layer's encoder_attn k_proj / v_proj: computed once per utterance)
    EmbedCodes    one column of 9 codes per row -> the sum of the 9 codebook embeddings
    Decoder       ParlerTTSDecoder's layers over an in-place self-attention cache, positions cache_lengths
                  onwards (its sinusoidal table), cross-attention to the bound keys and values -> 9 logits rows
    DacDecode     transformers' DacModel.decode

These are also what the `torch` backend runs (each kind's `module`, kinds.py). embed_prompt exports the
model's own embed_prompts table (an nn.Embedding takes ids and gives embeds, as the graph does).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def encoder_states(model, input_ids, attention_mask):
    """generate's encoder_outputs: T5's last hidden state, projected to the decoder's width where the widths
    differ, times the mask."""
    states = model.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    if getattr(model, "enc_to_dec_proj", None) is not None:
        states = model.enc_to_dec_proj(states)
    return states * attention_mask[..., None].to(states.dtype)


def _layers(model):
    return model.decoder.model.decoder.layers


class Encoder(nn.Module):
    """(input_ids [B, E], attention_mask [B, E]) -> present.{i}.encoder.key|value [B, kv, E, D] per layer."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        states = encoder_states(self.model, input_ids, attention_mask)
        b, e = states.shape[:2]
        out = []
        for layer in _layers(self.model):
            attention = layer.encoder_attn
            for proj in (attention.k_proj, attention.v_proj):
                out.append(proj(states).view(b, e, attention.num_key_value_heads, attention.head_dim).transpose(1, 2))
        return tuple(out)


class EmbedCodes(nn.Module):
    """codes [B, 9, S] -> embeds [B, S, H]: the sum over codebooks of embed_tokens[k](codes[:, k])."""

    def __init__(self, model):
        super().__init__()
        self.tables = model.decoder.model.decoder.embed_tokens

    def forward(self, codes):
        return sum(table(codes[:, k]) for k, table in enumerate(self.tables))


class Decoder(nn.Module):
    """The decoder over an in-place cache: the prefill (prompt embeddings, then the start column) and each step.

        (inputs_embeds [B,S,H], encoder_attention_mask [B,E], past.*.decoder [B,kv,C,D],
         past.*.encoder [B,kv,E,D], cache_lengths [B], lengths [B])
        -> logits [B, 9, V] of each row's last new position, present.*.decoder (the past buffers)

    Each layer is ParlerTTSDecoderLayer's: pre-norm self-attention, pre-norm cross-attention (its query
    scaled before the product, as ParlerTTSAttention does), pre-norm GELU FFN; then the final norm and the
    9 heads.
    """

    def __init__(self, model, flavour: str = "onnxruntime"):
        super().__init__()
        decoder = model.decoder.model.decoder
        self.decoder, self.heads_module, self.flavour = decoder, model.decoder.lm_heads, flavour
        self.codebooks = model.decoder.num_codebooks
        config = decoder.config
        self.heads, self.kv_heads = config.num_attention_heads, config.num_key_value_heads
        self.register_buffer("positions", decoder.embed_positions.weights.detach().clone(), persistent=False)
        self.activation = decoder.layers[0].activation_fn

    def forward(self, inputs_embeds, encoder_attention_mask, *rest):
        from ttsx.recipes.kv_attention import cache_attention

        n = len(self.decoder.layers)
        past, cross, cache_lengths, lengths = rest[: 2 * n], rest[2 * n: 4 * n], rest[-2], rest[-1]
        b, s = inputs_embeds.shape[:2]
        where = cache_lengths.long()[:, None] + torch.arange(s, device=inputs_embeds.device)[None, :]
        h = inputs_embeds + self.positions[where.clamp(max=self.positions.shape[0] - 1)]
        visible = encoder_attention_mask.bool()[:, None, None, :]  # [B, 1, 1, E]
        presents = []
        for i, layer in enumerate(self.decoder.layers):
            attention = layer.self_attn
            x = layer.self_attn_layer_norm(h)
            out, key, value = cache_attention(attention.q_proj(x), attention.k_proj(x), attention.v_proj(x),
                                              past[2 * i], past[2 * i + 1], cache_lengths, lengths, self.heads,
                                              self.kv_heads, self.flavour)
            h = h + attention.out_proj(out)
            h = h + self._cross(layer.encoder_attn, layer.encoder_attn_layer_norm(h), cross[2 * i], cross[2 * i + 1],
                                visible)
            h = h + layer.fc2(self.activation(layer.fc1(layer.final_layer_norm(h))))
            presents += [key, value]
        h = self.decoder.layer_norm(h)
        last = h[torch.arange(b, device=h.device), lengths.long() - 1]  # [B, H]
        if isinstance(self.heads_module, nn.ModuleList):
            logits = torch.stack([head(last) for head in self.heads_module], dim=1)
        else:  # fused heads: one Linear of 9 * V
            logits = self.heads_module(last).view(b, self.codebooks, -1)
        return (logits, *presents)

    def _cross(self, attention, x, key, value, visible):
        b, s = x.shape[:2]
        q = (attention.q_proj(x) * attention.scaling).view(b, s, attention.num_heads, attention.head_dim).transpose(1, 2)
        groups = attention.num_heads // key.shape[1]
        if groups > 1:
            key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
        out = F.scaled_dot_product_attention(q, key, value, attn_mask=visible, scale=1.0)
        return attention.out_proj(out.transpose(1, 2).reshape(b, s, attention.embed_dim))


class DacDecode(nn.Module):
    """codes [B, 9, T] -> audio [B, T * hop] (DacModel.decode)."""

    def __init__(self, model):
        super().__init__()
        self.dac = model.audio_encoder

    def forward(self, codes):
        return self.dac.decode(audio_codes=codes).audio_values
