"""Bark's four graphs, each a GraphKind: spec, export wrapper, parity cases, feeds, reference, axis ranges.

References call transformers' own modules the way `BarkModel.generate` does (an HF DynamicCache,
`BarkFineModel.forward(codebook_idx, ...)`, `BarkModel.codec_decode`), never the export wrappers,
so parity compares the graphs against transformers itself. torch is imported when a method runs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ttsx.recipes.causal import CacheShape, CausalKind, build_cache, decode_case, flatten_cache, prefill_case
from ttsx.recipes.kinds import Case, GraphKind, outputs_of
from ttsx.recipes.spec import Conversion, GraphSpec, TensorSpec

from .recipe import MIN_CODEC_FRAMES, SAMPLES_PER_FRAME

BERT_VOCAB = 119_547  # bert-base-multilingual-cased tokenizer ids
TRANSFORMER = Conversion(fp32_ops=("LayerNormalization",))  # LayerNorm's mean/variance overflow fp16
CODEC = Conversion(int8=False)  # no MatMul worth quantizing; its convolutions make the audio (fp16 is fine)


class BarkGpt(CausalKind):
    """The semantic or coarse GPT over an in-place cache: the prefill and every decode step (graphs.CausalStep).

    One graph serves the prefill and every step: the cache is a fixed-capacity buffer updated in place
    (the output is the input buffer), so the weights are stored once, no step copies the cache, and
    rows of different lengths share a batch (CacheLengths).
    """

    stage: str

    @property
    def arch(self):
        return getattr(self.recipe, self.stage)

    def gpt(self, model):
        """The transformers sub-model (BarkSemanticModel or BarkCoarseModel)."""
        return {"semantic": model.semantic, "coarse": model.coarse_acoustics}[self.stage]

    def step_specs(self) -> tuple[TensorSpec, ...]:
        a = self.arch
        return (TensorSpec("input_ids", "int64", ("batch", "sequence"), (0, a.input_vocab)),)

    @property
    def spec(self) -> GraphSpec:
        a = self.arch
        return self.causal_spec(self.stage, self.step_specs(), (TensorSpec("logits", "float32", ("batch", a.output_vocab)),),
                                CacheShape(a.layers, a.heads, a.head_dim), TRANSFORMER,
                                "logits of each row's last new token; present.* are the past buffers, written in "
                                "place. " + self.note, choices=("logits",))

    note = ""

    def module(self, model, kv_cache: str = "onnxruntime"):
        from .graphs import CausalStep

        return CausalStep(self.gpt(model), kv_cache, history=self.stage == "semantic")

    def decode_cases(self) -> list[Case]:
        block = self.recipe.semantic.block_size
        return [decode_case(1, 1), decode_case(3, 9, ragged=True), decode_case(1, 257),
                decode_case(2, block - 1, note="limit")]

    def random_inputs(self, model, spec, batch, length, rng) -> dict:
        return {"input_ids": rng.integers(0, self.arch.input_vocab, (batch, length))}

    def decode_inputs(self, model, spec, batch, rng) -> dict:
        """A generated token per row (the GPT's output ids)."""
        return {"input_ids": rng.integers(0, self.arch.output_vocab, (batch, 1))}

    def run_row(self, model, spec, inputs, past, cached):
        import torch

        ids = torch.from_numpy(inputs["input_ids"])
        out = self.gpt(model)(input_ids=ids, past_key_values=build_cache(past) if cached else None, use_cache=True)
        return {"logits": out.logits[0, -1].numpy()}, flatten_cache(out.past_key_values)

    def axis_ranges(self, max_batch: int) -> dict:
        """The batch, one to a whole block of positions (opt: the prefill's), the static cache's capacity."""
        c, r = self.recipe.constants, self.recipe
        prefill = c.semantic_prefill_positions if self.stage == "semantic" else c.coarse_prompt_tokens
        return {"sequence": (1, prefill, r.semantic.block_size),
                "capacity": (1, r.kv_capacity, r.kv_capacity)}


class Semantic(BarkGpt):
    """The semantic GPT; it also takes the history ids Bark adds to the text embeddings (-1: none), so the
    prefill's text + history merge and the decode steps are the same graph."""

    stage = "semantic"
    note = "history_ids are added to the text embeddings (the prefill's merge); -1 adds nothing."

    def step_specs(self):
        return super().step_specs() + (TensorSpec("history_ids", "int64", ("batch", "sequence"),
                                                  (-1, self.arch.input_vocab)),)

    def cases(self) -> list[Case]:
        return [Case("prefill batch=1 T=257", 1, 257), Case("prefill batch=3 T=257", 3, 257)] + self.decode_cases()

    def example_case(self) -> Case:
        return Case("export", batch=2, length=0, ragged=True)

    def random_inputs(self, model, spec, batch, length, rng) -> dict:
        return {**super().random_inputs(model, spec, batch, length, rng),
                "history_ids": np.full((batch, length), -1, np.int64)}

    def decode_inputs(self, model, spec, batch, rng) -> dict:
        return {**super().decode_inputs(model, spec, batch, rng), "history_ids": np.full((batch, 1), -1, np.int64)}

    def prefill_inputs(self, model, spec, case, rng):
        """The pipeline's 257-token prefill: text ids + infer token, history ids + -1 (any case length)."""
        c, batch = self.recipe.constants, case.batch
        n_text = rng.integers(1, c.max_text_tokens + 1)
        text = np.full((batch, c.max_text_tokens), c.text_pad, np.int64)
        text[:, :n_text] = rng.integers(0, BERT_VOCAB, (batch, n_text)) + c.text_offset
        history = rng.integers(0, c.semantic_vocab, (batch, c.max_text_tokens)).astype(np.int64)
        history[:, rng.integers(0, c.max_text_tokens):] = c.semantic_pad
        ids = np.hstack([text, np.full((batch, 1), c.semantic_infer)])
        return {"input_ids": ids, "history_ids": np.hstack([history, np.full((batch, 1), -1)])}, [ids.shape[1]] * batch

    def run_row(self, model, spec, inputs, past, cached):
        """BarkSemanticModel.generate's merge: history embeddings added where given."""
        import torch

        gpt = self.gpt(model)
        ids, history = (torch.from_numpy(inputs[n]) for n in ("input_ids", "history_ids"))
        out = gpt(inputs_embeds=history_merge(gpt, ids, history), use_cache=True,
                  past_key_values=build_cache(past) if cached else None)
        return {"logits": out.logits[0, -1].numpy()}, flatten_cache(out.past_key_values)


class Coarse(BarkGpt):
    """The coarse GPT: a prefill (cache_lengths 0) or one token per row."""

    stage = "coarse"
    note = "a prefill (cache_lengths 0) or one token per row."

    def cases(self) -> list[Case]:
        window, block = self.recipe.constants.coarse_prompt_tokens, self.recipe.semantic.block_size
        return [prefill_case(1, 1), prefill_case(3, 37, ragged=True), prefill_case(1, window, note="window"),
                prefill_case(2, block)] + self.decode_cases()


def history_merge(semantic, ids, history):
    """emb(ids) + emb(history) where history >= 0 (the prefill's text + history merge; -1 adds nothing).

    On the prefill's layout (256 text positions with history, then the infer token) this is
    graphs.semantic_prefill_embeds, BarkSemanticModel.generate's merge (tests/recipes/bark/test_reference.py).
    """
    import torch

    embed = semantic.input_embeds_layer
    added = torch.where((history >= 0).unsqueeze(-1), embed(history.clamp(min=0)), torch.zeros(()))
    return embed(ids) + added


@dataclass(frozen=True)
class FineCase(Case):
    """A fine-model case: also the codebook predicted."""

    codebook: int = 0


class Fine(GraphKind):
    """The non-causal fine model, one graph with the codebook index as an input (graphs.FineLogits).

    Not one graph per codebook: the six heads share all transformer weights, so per-codebook graphs
    would store them six times. The index masks the embedding sum and gathers the head: no `If`.
    """

    @property
    def spec(self) -> GraphSpec:
        a = self.recipe.fine
        return GraphSpec(
            "fine", "fine",
            inputs=(TensorSpec("input_ids", "int64", ("batch", "frames", a.n_codes_total), (0, a.input_vocab)),
                    TensorSpec("codebook_idx", "int64", (), (a.n_codes_given, a.n_codes_total))),
            outputs=(TensorSpec("logits", "float32", ("batch", "frames", a.output_vocab)),),
            tolerance=self.recipe.tolerance, convert=TRANSFORMER, choices=("logits",),
            notes=f"codebook_idx in [{a.n_codes_given}, {a.n_codes_total - 1}]; frames <= block_size.")

    def module(self, model, kv_cache: str = "onnxruntime"):
        from .graphs import FineLogits

        return FineLogits(model.fine_acoustics)

    def cases(self) -> list[Case]:
        r = self.recipe
        return ([FineCase(f"batch=1 codebook={k}", 1, r.constants.fine_window, codebook=k)
                 for k in range(r.fine.n_codes_given, r.fine.n_codes_total)]
                + [FineCase("batch=2 codebook=2 frames=100", 2, 100, codebook=2)])

    def example_case(self) -> Case:
        return FineCase("export", batch=2, length=16, ragged=True, codebook=2)

    def feed(self, model, spec, case, rng) -> dict:
        c = self.recipe.constants
        ids = rng.integers(0, c.codebook_size + 1, (case.batch, case.length, self.recipe.fine.n_codes_total))  # 1024 = pad
        return {"input_ids": ids, "codebook_idx": np.array(case.codebook, np.int64)}

    def reference(self, model, spec, feed) -> dict:
        import torch

        with torch.no_grad():
            return outputs_of(spec, [model.fine_acoustics(int(feed["codebook_idx"]),
                                                          torch.from_numpy(feed["input_ids"])).logits])

    def axis_ranges(self, max_batch: int) -> dict:
        return {"frames": (1, self.recipe.constants.fine_window, self.recipe.fine.block_size)}


class Codec(GraphKind):
    """EnCodec's quantizer decode and decoder (graphs.CodecDecode): codes -> waveform."""

    @property
    def spec(self) -> GraphSpec:
        n = self.recipe.codec.n_codebooks
        return GraphSpec(
            "codec", "codec",
            inputs=(TensorSpec("codes", "int64", ("batch", n, "frames"), (0, self.recipe.codec.codebook_size)),),
            outputs=(TensorSpec("waveform", "float32", ("batch", 1, "samples")),),
            tolerance=self.recipe.tolerance, convert=CODEC,
            notes=f"samples = frames * {SAMPLES_PER_FRAME}; codes in [0, codebook_size).",
            # EnCodec reflect-pads its first conv by 6 and takes another branch for shorter inputs;
            # the traced graph holds the long-input branch only.
            min_sizes=(("frames", MIN_CODEC_FRAMES),))

    def module(self, model, kv_cache: str = "onnxruntime"):
        from .graphs import CodecDecode, folded_codec

        return CodecDecode(folded_codec(model.codec_model))

    def cases(self) -> list[Case]:
        return [Case("batch=1 frames=75", 1, 75), Case(f"batch=2 frames={MIN_CODEC_FRAMES} (min)", 2, MIN_CODEC_FRAMES),
                Case("batch=1 frames=1024", 1, self.recipe.constants.fine_window)]

    def example_case(self) -> Case:
        return Case("export", batch=2, length=16, ragged=True)

    def feed(self, model, spec, case, rng) -> dict:
        c = self.recipe.constants
        return {"codes": rng.integers(0, c.codebook_size, (case.batch, self.recipe.codec.n_codebooks, case.length))}

    def reference(self, model, spec, feed) -> dict:
        import torch

        codes = torch.from_numpy(feed["codes"])
        with torch.no_grad():
            return outputs_of(spec, [model.codec_decode(codes).reshape(codes.shape[0], 1, -1)])

    def axis_ranges(self, max_batch: int) -> dict:
        c = self.recipe.constants
        return {"frames": (MIN_CODEC_FRAMES, c.fine_window, c.max_codec_frames)}


KINDS = (Semantic, Coarse, Fine, Codec)  # pipeline order
