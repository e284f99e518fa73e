"""ChatTTS's eight graphs, each a GraphKind: spec, export wrapper, parity cases, feeds, reference, axis ranges.

References are ChatTTS's own modules called the way `Chat.infer` calls them (float masks and
positions into the LlamaModel, `Embed.forward`, the weight-normed heads, `DVAE.forward`,
`Vocos.decode`), never the export wrappers. torch is imported when a method runs.
"""
from __future__ import annotations

import numpy as np

from ttsx.recipes.causal import CacheShape, CausalKind, build_cache, flatten_cache
from ttsx.recipes.kinds import Case, GraphKind, outputs_of
from ttsx.recipes.spec import Conversion, GraphSpec, TensorSpec

from .recipe import HOP, MEL_BINS, MIN_MEL_FRAMES, TYPICAL_PROMPT

# RMSNorm exports as Pow -> ReduceMean -> Add -> Sqrt -> Div: the square and its mean overflow fp16.
# (The rotary angles are a table gathered by position, graphs.RotaryTable: positions never pass through fp16.)
GPT = Conversion(fp32_ops=("Pow", "ReduceMean"))
HEAD = Conversion()
EMBEDDING = Conversion(int8=False)  # gathers only: nothing to quantize
AUDIO = Conversion(int8=False, fp32_ops=("LayerNormalization",))  # decoder, dvae, vocos: audio path stays fp32 in int8


class ChatTTSKind(GraphKind):
    """A stateless ChatTTS graph: a spec, a wrapper, cases, random inputs and ChatTTS's own module as reference."""

    def _spec(self, name: str, stage: str, inputs, outputs, convert: Conversion, notes: str, **extra) -> GraphSpec:
        return GraphSpec(name, stage, inputs=inputs, outputs=outputs, tolerance=self.recipe.tolerance,
                         convert=convert, notes=notes, **extra)


def _torch(feed: dict) -> dict:
    import torch

    return {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()}


class EmbedText(ChatTTSKind):
    """Embed.emb_text: text positions and refine steps."""

    note = "Embed.emb_text: text positions and refine steps."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("embed_text", "embed", (TensorSpec("input_ids", "int64", ("batch", "sequence"), (0, a.text_tokens)),),
                          (TensorSpec("embeds", "float32", ("batch", "sequence", a.hidden)),), EMBEDDING, self.note)

    def module(self, chat, kv_cache="onnxruntime"):
        return chat.embed.emb_text  # an nn.Embedding: ids in, embeds out, as the graph is

    def cases(self):
        return [Case("batch=1 T=7", 1, 7), Case("batch=3 T=40", 3, 40)]

    def feed(self, chat, spec, case, rng):
        return {"input_ids": rng.integers(0, self.recipe.gpt.text_tokens, (case.batch, case.length))}

    def reference(self, chat, spec, feed):
        import torch

        ids = _torch(feed)["input_ids"].unsqueeze(-1).expand(-1, -1, self.recipe.gpt.num_vq)
        with torch.no_grad():
            return outputs_of(spec, [chat.embed(ids, torch.full(ids.shape[:2], True))])

    def axis_ranges(self, max_batch):
        return {"sequence": (1, 1, self.recipe.gpt.max_positions)}


class EmbedCode(EmbedText):
    """The sum of the 4 Embed.emb_code tables, in codebook order."""

    note = "sum of the 4 Embed.emb_code tables, in codebook order."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("embed_code", "embed",
                          (TensorSpec("input_ids", "int64", ("batch", "sequence", a.num_vq), (0, a.audio_tokens)),),
                          (TensorSpec("embeds", "float32", ("batch", "sequence", a.hidden)),), EMBEDDING, self.note)

    def module(self, chat, kv_cache="onnxruntime"):
        from . import graphs

        return graphs.EmbedCode(chat.embed)

    def cases(self):
        return [Case("batch=1 T=1", 1, 1), Case("batch=3 T=40", 3, 40)]

    def feed(self, chat, spec, case, rng):
        g = self.recipe.gpt
        return {"input_ids": rng.integers(0, g.audio_tokens, (case.batch, case.length, g.num_vq))}

    def reference(self, chat, spec, feed):
        import torch

        ids = _torch(feed)["input_ids"]
        with torch.no_grad():
            return outputs_of(spec, [chat.embed(ids, torch.full(ids.shape[:2], False))])


class Gpt(CausalKind):
    """ChatTTS's LlamaModel over an in-place cache (graphs.GptStep): the prefill and every step."""

    @property
    def spec(self):
        a = self.recipe.gpt
        return self.causal_spec(
            "gpt", (TensorSpec("inputs_embeds", "float32", ("batch", "sequence", a.hidden)),),
            (TensorSpec("hidden", "float32", ("batch", a.hidden)),), CacheShape(a.layers, a.heads, a.head_dim), GPT,
            "the prefill (right-padded rows) and every step, over an in-place cache; positions are each row's token "
            "count (ChatTTS's cumsum(mask) - 1); hidden is each row's last new token's, after the final RMSNorm.")

    def module(self, chat, kv_cache="onnxruntime"):
        from .graphs import GptStep

        return GptStep(chat.gpt.gpt, kv_cache)

    def cases(self):
        return self.standard_cases()

    def example_case(self):
        return Case("export", 2, 7, ragged=True)

    def random_inputs(self, chat, spec, batch, length, rng):
        """Text embeddings of random text ids."""
        ids = rng.integers(0, chat.embed.emb_text.num_embeddings, (batch, length))
        return {"inputs_embeds": chat.embed.emb_text(_torch({"ids": ids})["ids"]).numpy()}

    def decode_inputs(self, chat, spec, batch, rng):
        """A code step's input: the 4 code embeddings of random codes, summed."""
        import torch

        codes = torch.from_numpy(rng.integers(0, chat.embed.num_audio_tokens, (batch, 1, chat.embed.num_vq)))
        embeds = torch.stack([table(codes[:, :, q]) for q, table in enumerate(chat.embed.emb_code)], 2).sum(2)
        return {"inputs_embeds": embeds.numpy()}

    def run_row(self, chat, spec, inputs, past, cached):
        """One row through ChatTTS's LlamaModel as Chat.infer calls it (float mask and positions, a DynamicCache)."""
        import torch

        g, embeds = chat.gpt.gpt, inputs["inputs_embeds"]
        n = embeds.shape[1]
        out = g(inputs_embeds=torch.from_numpy(np.ascontiguousarray(embeds)), use_cache=True,
                attention_mask=torch.ones(1, cached + n),
                position_ids=torch.arange(cached, cached + n, dtype=torch.float32)[None],
                past_key_values=build_cache(past, g.config))
        return {"hidden": out.last_hidden_state[0, -1].float().numpy()}, flatten_cache(out.past_key_values)

    def axis_ranges(self, max_batch):
        """opt: a short sentence's prompt (the build adds a one-position decode profile to it)."""
        capacity = self.recipe.kv_capacity
        return {"sequence": (1, min(TYPICAL_PROMPT, capacity), capacity),
                "capacity": (1, capacity, capacity)}


class CodeHeads(ChatTTSKind):
    """The 4 weight-normed code heads, folded."""

    note = "the 4 weight-normed code heads, folded."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("code_heads", "gpt", (TensorSpec("hidden", "float32", ("batch", a.hidden)),),
                          (TensorSpec("logits", "float32", ("batch", a.num_vq, a.audio_tokens)),), HEAD, self.note,
                          choices=("logits",))

    def module(self, chat, kv_cache="onnxruntime"):
        from . import graphs

        return graphs.CodeHeads(chat.embed)

    def cases(self):
        return [Case("batch=1", 1, 1), Case("batch=64", 64, 1)]  # 64 rows: a pooled top-1 worth reading

    def feed(self, chat, spec, case, rng):
        return {"hidden": rng.standard_normal((case.batch, self.recipe.gpt.hidden)).astype(np.float32)}

    def reference(self, chat, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [torch.stack([head(_torch(feed)["hidden"]) for head in chat.gpt.head_code], 1)])

    def axis_ranges(self, max_batch):
        return {}


class TextHead(CodeHeads):
    """The weight-normed text head (refine pass), folded."""

    note = "the weight-normed text head (refine pass), folded."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("text_head", "gpt", (TensorSpec("hidden", "float32", ("batch", a.hidden)),),
                          (TensorSpec("logits", "float32", ("batch", a.text_tokens)),), HEAD, self.note,
                          choices=("logits",))

    def module(self, chat, kv_cache="onnxruntime"):
        from . import graphs

        return graphs.TextHead(chat.embed)

    def reference(self, chat, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [chat.gpt.head_text(_torch(feed)["hidden"])])


class Decoder(ChatTTSKind):
    """GPT hiddens [B, H, T] -> mel [B, 100, 2T] (use_decoder)."""

    note = "GPT hiddens [B, H, T] -> mel [B, 100, 2T] (use_decoder)."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("decoder", "decoder", (TensorSpec("hiddens", "float32", ("batch", a.hidden, "tokens")),),
                          (TensorSpec("mel", "float32", ("batch", MEL_BINS, "mel_frames")),), AUDIO, self.note)

    def module(self, chat, kv_cache="onnxruntime"):
        from .graphs import MelDecoder

        return MelDecoder(chat.decoder)

    def cases(self):
        return [Case("batch=1 T=1", 1, 1), Case("batch=2 T=50", 2, 50), Case("batch=1 T=500", 1, 500)]

    def feed(self, chat, spec, case, rng):
        return {"hiddens": rng.standard_normal((case.batch, self.recipe.gpt.hidden, case.length)).astype(np.float32)}

    def reference(self, chat, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [chat.decoder(_torch(feed)["hiddens"]).clone()])

    def axis_ranges(self, max_batch):
        return {"tokens": (1, 256, self.recipe.constants.max_code_tokens)}


class Dvae(Decoder):
    """Codes [B, 4, T] -> mel [B, 100, 2T] (GFSQ lookup, decoder)."""

    note = "codes [B, 4, T] -> mel [B, 100, 2T] (GFSQ lookup, decoder)."

    @property
    def spec(self):
        a = self.recipe.gpt
        return self._spec("dvae", "decoder",
                          (TensorSpec("codes", "int64", ("batch", a.num_vq, "tokens"), (0, a.audio_tokens - 1)),),
                          (TensorSpec("mel", "float32", ("batch", MEL_BINS, "mel_frames")),), AUDIO, self.note)

    def module(self, chat, kv_cache="onnxruntime"):
        from .graphs import MelDecoder

        return MelDecoder(chat.dvae)

    def feed(self, chat, spec, case, rng):
        g = self.recipe.gpt
        return {"codes": rng.integers(0, g.audio_tokens - 1, (case.batch, g.num_vq, case.length))}

    def reference(self, chat, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [chat.dvae(_torch(feed)["codes"]).clone()])


class Vocos(ChatTTSKind):
    """Vocos: mel -> waveform; the inverse STFT is a real matmul + overlap-add."""

    @property
    def spec(self):
        return self._spec("vocos", "vocos", (TensorSpec("mel", "float32", ("batch", MEL_BINS, "mel_frames")),),
                          (TensorSpec("waveform", "float32", ("batch", "samples")),), AUDIO,
                          f"samples = (mel_frames - 1) * {HOP}; the inverse STFT is a real matmul + overlap-add.",
                          min_sizes=(("mel_frames", MIN_MEL_FRAMES),))

    def module(self, chat, kv_cache="onnxruntime"):
        from .graphs import VocosDecode

        return VocosDecode(chat.vocos)

    def cases(self):
        return [Case(f"batch=1 frames={MIN_MEL_FRAMES} (min)", 1, MIN_MEL_FRAMES), Case("batch=2 frames=100", 2, 100),
                Case("batch=1 frames=1000", 1, 1000)]

    def example_case(self):
        return Case("export", 2, 16, ragged=True)

    def feed(self, chat, spec, case, rng):
        return {"mel": rng.standard_normal((case.batch, MEL_BINS, case.length)).astype(np.float32)}

    def reference(self, chat, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [chat.vocos.decode(_torch(feed)["mel"])])

    def axis_ranges(self, max_batch):
        return {"mel_frames": (MIN_MEL_FRAMES, 512, 2 * self.recipe.constants.max_code_tokens)}


KINDS = (EmbedText, EmbedCode, Gpt, CodeHeads, TextHead, Decoder, Dvae, Vocos)  # pipeline order
