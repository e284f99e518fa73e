"""The toy family's two graphs: the LM over an in-place cache (shared causal feed and reference) and the vocoder."""
from __future__ import annotations


from ttsx.recipes.causal import CacheShape, CausalKind, build_cache, flatten_cache, prefill_case
from ttsx.recipes.kinds import Case, GraphKind, outputs_of
from ttsx.recipes.spec import Conversion, GraphSpec, TensorSpec

from .recipe import CODES, HOP, VOCAB, WINDOW


class Lm(CausalKind):
    """GPT-2 over an in-place cache: (input_ids, past.*, lengths) -> logits of each row's last token, present.*."""

    @property
    def spec(self) -> GraphSpec:
        r = self.recipe
        return self.causal_spec("lm", (TensorSpec("input_ids", "int64", ("batch", "sequence"), (0, VOCAB)),),
                                (TensorSpec("logits", "float32", ("batch", VOCAB)),), CacheShape(r.layers, r.heads, r.head_dim),
                                Conversion(fp32_ops=("LayerNormalization",)), "bytes, then codes until EOS.",
                                choices=("logits",))

    def module(self, model, kv_cache: str = "onnxruntime"):
        from .model import LmStep

        return LmStep(model.lm, kv_cache)

    def cases(self) -> list[Case]:
        return self.standard_cases(prefills=(37,), pasts=(9,), limit_batch=2) + [
            prefill_case(2, WINDOW + 1, note="window")]

    def random_inputs(self, model, spec, batch, length, rng) -> dict:
        return {"input_ids": rng.integers(0, VOCAB, (batch, length))}

    def run_row(self, model, spec, inputs, past, cached):
        import torch

        out = model.lm(input_ids=torch.from_numpy(inputs["input_ids"]), use_cache=True,
                       past_key_values=build_cache(past) if cached else None)
        return {"logits": out.logits[0, -1].numpy()}, flatten_cache(out.past_key_values)

    def axis_ranges(self, max_batch: int) -> dict:
        capacity = self.recipe.kv_capacity
        return {"sequence": (1, WINDOW + 1, capacity),
                "capacity": (1, capacity, capacity)}


class Vocoder(GraphKind):
    """codes [B, T] -> waveform [B, T * HOP]: the reference's vocoder module itself."""

    @property
    def spec(self) -> GraphSpec:
        return GraphSpec("vocoder", "vocoder", inputs=(TensorSpec("codes", "int64", ("batch", "frames"), (0, CODES)),),
                         outputs=(TensorSpec("waveform", "float32", ("batch", "samples")),),
                         tolerance=self.recipe.tolerance, convert=Conversion(int8=False),
                         notes=f"samples = frames * {HOP}.")

    def module(self, model, kv_cache: str = "onnxruntime"):
        return model.vocoder

    def cases(self) -> list[Case]:
        return [Case("batch=1 frames=1", 1, 1), Case("batch=2 frames=50", 2, 50)]

    def feed(self, model, spec, case, rng) -> dict:
        return {"codes": rng.integers(0, CODES, (case.batch, case.length))}

    def reference(self, model, spec, feed) -> dict:
        import torch

        with torch.no_grad():
            return outputs_of(spec, [model.vocoder(torch.from_numpy(feed["codes"]))])

    def axis_ranges(self, max_batch: int) -> dict:
        return {"frames": (1, 48, self.recipe.max_new_tokens)}


KINDS = (Lm, Vocoder)
