"""Parler-TTS's five graphs, each a GraphKind: spec, export wrapper, parity cases, feeds, reference, axis ranges.

References are parler_tts's own modules called the way `ParlerTTSForConditionalGeneration.generate` calls
them: the text encoder through `_prepare_text_encoder_kwargs_for_generation` and the cross-attention keys
and values as its first decoder forward caches them (an EncoderDecoderCache), `embed_prompts`, the
decoder's embed_tokens, `ParlerTTSForCausalLM.forward` over an EncoderDecoderCache, and DacModel.decode;
never the export wrappers. torch is imported when a method runs.
"""
from __future__ import annotations

import numpy as np

from ttsx.recipes.causal import CacheShape, CausalKind, build_cache, flatten_cache, flatten_cross, row_lengths
from ttsx.recipes.kinds import Case, GraphKind, outputs_of
from ttsx.recipes.spec import (Conversion, GraphSpec, TensorSpec, cross_attention_inputs,
                               kv_specs)

TRANSFORMER = Conversion(fp32_ops=("LayerNormalization",))
EMBEDDING = Conversion(int8=False)  # gathers only
CODEC = Conversion(int8=False)  # DAC's convolutions make the audio: no int8
TYPICAL_DESCRIPTION = 32  # T5 tokens of a one-sentence description (TensorRT's opt)
TYPICAL_PROMPT = 32


def _torch(value):
    import torch

    return torch.from_numpy(np.ascontiguousarray(value))


def ragged_mask(batch: int, length: int) -> np.ndarray:
    """int64 [batch, length] attention masks: the first row full, later rows shorter (right-padded)."""
    mask = np.zeros((batch, length), np.int64)
    for b, n in enumerate(row_lengths(batch, length, batch > 1)):
        mask[b, :n] = 1
    return mask


def encode(model, input_ids, attention_mask):
    """generate's encoder_outputs for a description batch (its own _prepare_text_encoder_kwargs_for_generation)."""
    kwargs = model._prepare_text_encoder_kwargs_for_generation(input_ids, {"attention_mask": attention_mask},
                                                               "input_ids", model.generation_config)
    return kwargs["encoder_outputs"].last_hidden_state


class ParlerKind(GraphKind):
    """A stateless Parler-TTS graph."""

    def _spec(self, name, stage, inputs, outputs, convert, notes, **extra) -> GraphSpec:
        return GraphSpec(name, stage, inputs=inputs, outputs=outputs, tolerance=self.recipe.tolerance,
                         convert=convert, notes=notes, **extra)


class Encoder(ParlerKind):
    """T5 over the description, then every decoder layer's cross-attention keys and values (once per utterance)."""

    @property
    def spec(self):
        t, d = self.recipe.t5, self.recipe.decoder
        return self._spec("encoder", "decoder",
                          (TensorSpec("input_ids", "int64", ("batch", "description"), (0, t.vocab)),
                           TensorSpec("attention_mask", "int64", ("batch", "description"), (0, 2))),
                          kv_specs("present", d.layers, d.kv_heads, d.head_dim, "description", "encoder"),
                          TRANSFORMER, "T5 (+ enc_to_dec_proj) times the mask, then each layer's encoder_attn "
                                       "k_proj / v_proj: the decoder's past_key_values.{i}.encoder.*; rows right-padded.")

    def module(self, model, kv_cache="onnxruntime"):
        from .graphs import Encoder as Wrapper

        return Wrapper(model)

    def cases(self):
        return [Case("batch=1 E=6", 1, 6), Case("batch=3 E=20 (ragged)", 3, 20, ragged=True)]

    def example_case(self):
        return Case("export", 2, 7, ragged=True)

    def feed(self, model, spec, case, rng):
        mask = ragged_mask(case.batch, case.length) if case.ragged else np.ones((case.batch, case.length), np.int64)
        ids = rng.integers(2, self.recipe.t5.vocab, (case.batch, case.length)) * mask  # pads are T5's 0
        return {"input_ids": ids, "attention_mask": mask}

    def reference(self, model, spec, feed):
        """The cross-attention cache of generate's first decoder forward (its EncoderDecoderCache)."""
        import torch

        d = self.recipe.decoder
        ids, mask = _torch(feed["input_ids"]), _torch(feed["attention_mask"])
        with torch.no_grad():
            states = encode(model, ids, mask)
            cache = build_cache((), cross=())
            start = torch.full((ids.shape[0] * d.codebooks, 1), d.bos)
            model.decoder(input_ids=start, encoder_hidden_states=states, encoder_attention_mask=mask,
                          past_key_values=cache, use_cache=True)
        return outputs_of(spec, flatten_cross(cache))

    def perturb(self, spec, name, feed, rng):
        """attention_mask: each row's last real token masked out (where a row has two)."""
        if name != "attention_mask":
            return super().perturb(spec, name, feed, rng)
        mask = np.array(feed[name])
        for row in mask:
            n = int(row.sum())
            if n > 1:
                row[n - 1] = 0
        return mask if not np.array_equal(mask, feed[name]) else None

    def axis_ranges(self, max_batch):
        return {"description": (1, TYPICAL_DESCRIPTION, self.recipe.max_description)}


class EmbedPrompt(ParlerKind):
    """embed_prompts over the transcript's T5 ids."""

    @property
    def spec(self):
        t, d = self.recipe.t5, self.recipe.decoder
        return self._spec("embed_prompt", "decoder",
                          (TensorSpec("prompt_ids", "int64", ("batch", "prompt"), (0, t.vocab)),),
                          (TensorSpec("embeds", "float32", ("batch", "prompt", d.hidden)),), EMBEDDING,
                          "embed_prompts(ids): the decoder's prefill starts with these (positions 0..P-1).")

    def module(self, model, kv_cache="onnxruntime"):
        return model.embed_prompts  # an nn.Embedding: ids in, embeds out, as the graph is

    def cases(self):
        return [Case("batch=1 P=4", 1, 4), Case("batch=2 P=30", 2, 30)]

    def feed(self, model, spec, case, rng):
        return {"prompt_ids": rng.integers(0, self.recipe.t5.vocab, (case.batch, case.length))}

    def reference(self, model, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [model.embed_prompts(_torch(feed["prompt_ids"]))])

    def axis_ranges(self, max_batch):
        return {"prompt": (1, TYPICAL_PROMPT, self.recipe.max_prompt)}


class EmbedCodes(ParlerKind):
    """The sum of the 9 codebook embeddings of a column of codes (the decoder's input per step)."""

    @property
    def spec(self):
        d = self.recipe.decoder
        return self._spec("embed_codes", "decoder",
                          (TensorSpec("codes", "int64", ("batch", d.codebooks, "sequence"), (0, d.vocab)),),
                          (TensorSpec("embeds", "float32", ("batch", "sequence", d.hidden)),), EMBEDDING,
                          "sum_k embed_tokens[k](codes[:, k]) of the delayed codes fed to the decoder.")

    def module(self, model, kv_cache="onnxruntime"):
        from .graphs import EmbedCodes as Wrapper

        return Wrapper(model)

    def cases(self):
        return [Case("batch=1 S=1", 1, 1), Case("batch=3 S=5", 3, 5)]

    def feed(self, model, spec, case, rng):
        d = self.recipe.decoder
        return {"codes": rng.integers(0, d.vocab, (case.batch, d.codebooks, case.length))}

    def reference(self, model, spec, feed):
        """ParlerTTSDecoder.forward's own sum over its embed_tokens."""
        import torch

        tables = model.decoder.model.decoder.embed_tokens
        codes = _torch(feed["codes"])
        with torch.no_grad():
            return outputs_of(spec, [sum(tables[k](codes[:, k]) for k in range(codes.shape[1]))])

    def axis_ranges(self, max_batch):
        return {"sequence": (1, 1, 1)}


class Decoder(CausalKind):
    """The decoder over an in-place self-attention cache, cross-attending to the bound encoder keys and values."""

    CROSS = 12  # description tokens of the parity feeds (rows masked to different lengths)

    @property
    def spec(self):
        d = self.recipe.decoder
        return self.causal_spec(
            "decoder", (TensorSpec("inputs_embeds", "float32", ("batch", "sequence", d.hidden)),
                        TensorSpec("encoder_attention_mask", "int64", ("batch", "encoder_sequence"), (0, 2))),
            (TensorSpec("logits", "float32", ("batch", d.codebooks, d.vocab)),),
            CacheShape(d.layers, d.kv_heads, d.head_dim, seq2seq=True), TRANSFORMER,
            "the prefill (right-padded rows: each row's prompt embeddings, then its start column) and every step, over "
            "an in-place cache; positions cache_lengths onwards on the sinusoidal table; cross-attention to "
            "past_key_values.{i}.encoder.* (the encoder graph's outputs, bound once); logits [9, V] of each row's last "
            "new position.", bound=cross_attention_inputs(d.layers, d.kv_heads, d.head_dim), choices=("logits",))

    def module(self, model, kv_cache="onnxruntime"):
        from .graphs import Decoder as Wrapper

        return Wrapper(model, kv_cache)

    def cases(self):
        return self.standard_cases(prefills=(31,), pasts=(9, 300))

    def _cross(self, model, batch, rng):
        """A description batch through the reference encoder: its mask and the keys and values it binds."""
        import torch

        d = self.recipe.decoder
        mask = ragged_mask(batch, self.CROSS)
        ids = rng.integers(2, self.recipe.t5.vocab, mask.shape) * mask
        spec = self.recipe.graph_kind("encoder").spec
        with torch.no_grad():
            values = self.recipe.graph_kind("encoder").reference(model, spec, {"input_ids": ids, "attention_mask": mask})
        cross = {n.replace("present", "past_key_values", 1): values[n] for n in spec.output_names}
        assert len(cross) == 2 * d.layers
        return {"encoder_attention_mask": mask, **cross}

    def random_inputs(self, model, spec, batch, length, rng):
        """Rows of `length` positions: random prompt embeddings, then a random column of codes."""
        import torch

        d = self.recipe.decoder
        with torch.no_grad():
            parts = [model.embed_prompts(_torch(rng.integers(0, self.recipe.t5.vocab, (batch, length - 1))))]
            codes = _torch(rng.integers(0, d.vocab, (batch, d.codebooks, 1)))
            tables = model.decoder.model.decoder.embed_tokens
            parts.append(sum(tables[k](codes[:, k]) for k in range(d.codebooks)))
            embeds = torch.cat(parts, 1).numpy()
        return {"inputs_embeds": embeds, **self._cross(model, batch, rng)}

    def run_row(self, model, spec, inputs, past, cached):
        """One row through ParlerTTSForCausalLM.forward over an EncoderDecoderCache holding its past and the
        bound cross-attention keys and values (marked computed, as after generate's first step)."""
        import torch

        d = self.recipe.decoder
        x = _torch(inputs["inputs_embeds"])
        n = x.shape[1]
        names = [t.name for t in spec.inputs if ".encoder." in t.name]
        cross = tuple(_torch(inputs[name]) for name in names)
        cache = build_cache(past, cross=cross)
        for layer in range(d.layers):
            cache.is_updated[layer] = True
        mask = _torch(inputs["encoder_attention_mask"])
        stand_in = torch.zeros(1, mask.shape[1], d.hidden)  # not read: the cross cache is marked computed
        out = model.decoder(inputs_embeds=x, encoder_hidden_states=stand_in, encoder_attention_mask=mask,
                            past_key_values=cache, use_cache=True, cache_position=torch.arange(cached, cached + n))
        logits = out.logits.reshape(d.codebooks, n, -1)[:, -1]
        return {"logits": logits.numpy()}, flatten_cache(cache)

    def perturb(self, spec, name, feed, rng):
        """encoder_attention_mask: each row's last unmasked description token masked out."""
        if name != "encoder_attention_mask":
            return super().perturb(spec, name, feed, rng)
        return self.recipe.graph_kind("encoder").perturb(spec, "attention_mask", {"attention_mask": feed[name]}, rng)

    def axis_ranges(self, max_batch):
        capacity = self.recipe.kv_capacity
        return {"sequence": (1, TYPICAL_PROMPT + 1, self.recipe.max_prompt + 1),
                "encoder_sequence": (1, TYPICAL_DESCRIPTION, self.recipe.max_description),
                "capacity": (1, capacity, capacity)}


class Dac(ParlerKind):
    """DacModel.decode: 9 codebooks of frames -> 44.1 kHz audio."""

    @property
    def spec(self):
        a = self.recipe.dac
        return self._spec("dac", "dac",
                          (TensorSpec("codes", "int64", ("batch", a.codebooks, "frames"), (0, a.codebook_size)),),
                          (TensorSpec("audio", "float32", ("batch", "samples")),), CODEC,
                          f"DacModel.decode(audio_codes); samples = frames * {a.hop}.")

    def module(self, model, kv_cache="onnxruntime"):
        from .graphs import DacDecode

        return DacDecode(model)

    def cases(self):
        return [Case("batch=1 frames=4", 1, 4), Case("batch=2 frames=40", 2, 40)]

    def example_case(self):
        return Case("export", 2, 6)

    def feed(self, model, spec, case, rng):
        a = self.recipe.dac
        return {"codes": rng.integers(0, a.codebook_size, (case.batch, a.codebooks, case.length))}

    def reference(self, model, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [model.audio_encoder.decode(audio_codes=_torch(feed["codes"])).audio_values])

    def axis_ranges(self, max_batch):
        frames = self.recipe.sampling.max_steps
        return {"batch": (1, 1, max_batch), "frames": (1, 256, frames)}


KINDS = (Encoder, EmbedPrompt, EmbedCodes, Decoder, Dac)  # pipeline order
