"""The graphs that make a voice from a reference clip (get_tts_wav's prompt path, and v2Pro's sv embedding).

    clip_ids  wav16k [1, samples] -> codes [1, 1, T]: cnhubert -> ssl_proj -> quantizer (extract_latent)
    speaker   fbank [1, frames, 80] -> sv_emb [1, 20480]: ERes2NetV2.forward3 (v2Pro, v2ProPlus)

Both run once per voice, not per request, so they stay fp32 in every precision. References are
upstream's own calls: `ssl_model.model(wav)["last_hidden_state"]` + `vq_model.extract_latent`, and
`embedding_model.forward3`. The fbank itself is host numpy (clip.py), checked against upstream's kaldi.py.
"""
from __future__ import annotations

import numpy as np

from ttsx.recipes.kinds import Case, outputs_of
from ttsx.recipes.spec import Conversion, TensorSpec

from .clip import FRAME, SHIFT
from .kinds import GptSovitsKind, _torch

ONCE_PER_VOICE = Conversion(int8=False, fp16=False)


class ClipIds(GptSovitsKind):
    """cnhubert's features of a 16 kHz clip through SoVITS's ssl_proj and quantizer: the voice's prompt ids."""

    @property
    def spec(self):
        return self._spec("clip_ids", "voice", (TensorSpec("wav16k", "float32", (1, "samples")),),
                          (TensorSpec("codes", "int64", (1, 1, "ids")),), ONCE_PER_VOICE,
                          "get_tts_wav's prompt: cnhubert's last_hidden_state of the 16 kHz clip (with its 0.3 s of "
                          "zeros), transposed, through extract_latent (ssl_proj at 25 Hz, the quantizer's nearest "
                          "codebook entry).", min_sizes=(("samples", 800),))

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import ClipIds as Wrapper

        return Wrapper(ref)

    def cases(self):
        return [Case("1 s", 1, 16_000), Case("3.6 s (the shortest clip plus its pause)", 1, 57_600)]

    def example_case(self):
        return Case("export", 1, 24_000)

    def feed(self, ref, spec, case, rng):
        t = np.arange(case.length) / 16_000
        wave = 0.3 * np.sin(2 * np.pi * (120 + 80 * rng.random()) * t) + 0.05 * rng.standard_normal(case.length)
        return {"wav16k": wave[None].astype(np.float32)}

    def reference(self, ref, spec, feed):
        import torch

        with torch.no_grad():
            features = ref.hubert(_torch(feed["wav16k"]))["last_hidden_state"].transpose(1, 2)
            return outputs_of(spec, [ref.vits.extract_latent(features)])

    def perturb(self, spec, name, feed, rng):
        """Another clip: a different voice must give other ids (a small noise may keep every nearest entry)."""
        value = np.asarray(feed[name])
        return (0.5 * rng.standard_normal(value.shape)).astype(value.dtype)

    def axis_ranges(self, max_batch):
        c = self.recipe.clip
        return {"samples": (800, c.max_samples // 2, c.max_samples + c.pause_samples)}


class Speaker(GptSovitsKind):
    """v2Pro's speaker-verification embedding of a clip's 80-bin fbank (ERes2NetV2.forward3)."""

    @property
    def spec(self):
        c, v = self.recipe.clip, self.recipe.vits
        return self._spec("speaker", "voice", (TensorSpec("fbank", "float32", (1, "frames", c.fbank_bins)),),
                          (TensorSpec("sv_emb", "float32", (1, v.sv_dim)),), ONCE_PER_VOICE,
                          "sv.py compute_embedding3: ERes2NetV2.forward3 over Kaldi's 80-bin log fbank of the 16 kHz "
                          "clip (computed on the host, clip.py).", min_sizes=(("frames", 16),))

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import SpeakerEmbedding

        return SpeakerEmbedding(ref)

    def cases(self):
        return [Case("frames=100", 1, 100), Case("frames=298 (3 s)", 1, 298)]

    def example_case(self):
        return Case("export", 1, 120)

    def feed(self, ref, spec, case, rng):
        bins = self.recipe.clip.fbank_bins  # log energies: around -5..5
        return {"fbank": (2.0 * rng.standard_normal((1, case.length, bins)) - 3.0).astype(np.float32)}

    def reference(self, ref, spec, feed):
        import torch

        with torch.no_grad():
            return outputs_of(spec, [ref.sv.forward3(_torch(feed["fbank"]).clone())])

    def axis_ranges(self, max_batch):
        c = self.recipe.clip
        return {"frames": (16, 600, 1 + (c.max_samples - FRAME) // SHIFT)}


CLIP_KINDS = (ClipIds,)
PRO_KINDS = (Speaker,)
