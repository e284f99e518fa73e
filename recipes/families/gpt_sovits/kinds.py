"""GPT-SoVITS's four graphs, each a GraphKind: spec, export wrapper, parity cases, feeds, reference, axis ranges.

References are upstream's own modules called the way `infer_panel_naive` and `SynthesizerTrn.decode`
call them (the embeddings and sine position tables, T2SBlock.process_prompt with its xy_attn_mask and
decode_next_token over its [B, T, hidden] caches, `decode` with its noise), never the export wrappers.
torch is imported when a method runs.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from ttsx.recipes.causal import CacheShape, CausalKind, row_lengths
from ttsx.recipes.kinds import Case, GraphKind, outputs_of
from ttsx.recipes.spec import Conversion, GraphSpec, TensorSpec

from .streaming import sine_fade

EMBEDDING = Conversion(int8=False)  # gathers and one small projection: nothing worth quantizing
T2S_CONVERT = Conversion(fp32_ops=("LayerNormalization",))
VITS = Conversion(int8=False, fp32_ops=("LayerNormalization",))  # the audio path stays fp32 in int8
TYPICAL_PROMPT = 128  # t2s prefill positions of a short reference and sentence (TensorRT's opt)
MAX_FRAMES_PER_ID = 2  # VITS: 50 Hz frames per 25 Hz semantic id


def _torch(value):
    import torch

    return torch.from_numpy(np.ascontiguousarray(value))


class GptSovitsKind(GraphKind):
    """A stateless GPT-SoVITS graph."""

    def _spec(self, name, stage, inputs, outputs, convert, notes, **extra) -> GraphSpec:
        return GraphSpec(name, stage, inputs=inputs, outputs=outputs, tolerance=self.recipe.tolerance,
                         convert=convert, notes=notes, **extra)


class EmbedText(GptSovitsKind):
    """Phoneme embedding + bert_proj(BERT features) + the text sine table (with its alpha)."""

    @property
    def spec(self):
        t = self.recipe.t2s
        return self._spec("embed_text", "t2s",
                          (TensorSpec("phoneme_ids", "int64", ("batch", "phonemes"), (0, t.phonemes)),
                           TensorSpec("bert_features", "float32", ("batch", t.bert_dim, "phonemes"))),
                          (TensorSpec("embeds", "float32", ("batch", "phonemes", t.hidden)),), EMBEDDING,
                          "ar_text_position(ar_text_embedding(ids) + bert_proj(bert)); rows right-padded.")

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import EmbedText as Wrapper

        return Wrapper(ref.t2s)

    def cases(self):
        return [Case("batch=1 X=5", 1, 5), Case("batch=3 X=40", 3, 40)]

    def feed(self, ref, spec, case, rng):
        t = self.recipe.t2s
        return {"phoneme_ids": rng.integers(0, t.phonemes, (case.batch, case.length)),
                "bert_features": rng.standard_normal((case.batch, t.bert_dim, case.length)).astype(np.float32)}

    def reference(self, ref, spec, feed):
        import torch

        t = ref.t2s
        with torch.no_grad():
            x = t.ar_text_embedding(_torch(feed["phoneme_ids"])) + t.bert_proj(_torch(feed["bert_features"]).transpose(1, 2))
            return outputs_of(spec, [t.ar_text_position(x)])

    def axis_ranges(self, max_batch):
        return {"phonemes": (1, TYPICAL_PROMPT, self.recipe.max_prompt)}


class EmbedAudio(GptSovitsKind):
    """The semantic-id embedding plus alpha times the audio sine table at each id's position."""

    @property
    def spec(self):
        t = self.recipe.t2s
        return self._spec("embed_audio", "t2s",
                          (TensorSpec("semantic_ids", "int64", ("batch", "sequence"), (0, t.semantic)),
                           TensorSpec("positions", "int64", ("batch", "sequence"), (0, t.positions))),
                          (TensorSpec("embeds", "float32", ("batch", "sequence", t.hidden)),), EMBEDDING,
                          "embedding * x_scale + alpha * pe[position]: the prompt (positions 0..) and each step "
                          "(position prompt length + step).")

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import EmbedAudio as Wrapper

        return Wrapper(ref.t2s)

    def cases(self):
        return [Case("prompt batch=2 T=30", 2, 30), Case("steps batch=3 T=1", 3, 1)]

    def feed(self, ref, spec, case, rng):
        t = self.recipe.t2s
        ids = rng.integers(0, t.semantic, (case.batch, case.length))
        if case.length > 1:  # a prompt: positions from 0
            positions = np.broadcast_to(np.arange(case.length), ids.shape).copy()
        else:  # steps: each row at its own position
            positions = rng.integers(0, t.positions - 1, ids.shape)
        return {"semantic_ids": ids, "positions": positions}

    def reference(self, ref, spec, feed):
        """A prompt through ar_audio_position (infer_panel_naive's first step); a step by its update formula."""
        import torch

        t, table = ref.t2s, ref.t2s.ar_audio_position
        ids, positions = _torch(feed["semantic_ids"]), feed["positions"]
        rows = []
        with torch.no_grad():
            for b in range(len(ids)):
                emb = t.ar_audio_embedding(ids[b: b + 1])
                if np.array_equal(positions[b], np.arange(positions.shape[1])):
                    rows.append(table(emb))
                else:
                    pos = torch.from_numpy(positions[b])
                    rows.append(emb * table.x_scale + table.alpha * table.pe[:, pos].to(dtype=emb.dtype))
        return outputs_of(spec, [torch.cat(rows)])

    def axis_ranges(self, max_batch):
        return {"sequence": (1, 1, self.recipe.max_prompt)}


class T2S(CausalKind):
    """The t2s transformer over an in-place cache: the prefix-LM prefill (text, then prompt ids) and every step."""

    @property
    def spec(self):
        t = self.recipe.t2s
        return self.causal_spec(
            "t2s", (TensorSpec("inputs_embeds", "float32", ("batch", "sequence", t.hidden)),
                    TensorSpec("text_lengths", "int32", ("batch",), (0, 2**31 - 1))),
            (TensorSpec("logits", "float32", ("batch", t.semantic)),), CacheShape(t.layers, t.heads, t.head_dim),
            T2S_CONVERT, "the prefill (right-padded rows: each row's text_lengths text positions, then its prompt ids) "
            "and every step, over an in-place cache; text attends to all text, audio to all text and earlier audio "
            "(prefix-LM); logits are each row's last new position's.", choices=("logits",))

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import T2SStep

        return T2SStep(ref.t2s, kv_cache)

    def cases(self):
        return self.standard_cases()

    def _row(self, ref, text: int, length: int, rng) -> np.ndarray:
        """One row's prefill embeddings: `text` random phonemes (zero BERT features), then prompt ids."""
        import torch

        t, arch = ref.t2s, self.recipe.t2s
        with torch.no_grad():
            x = t.ar_text_embedding(_torch(rng.integers(0, arch.phonemes, (1, text))))
            x = t.ar_text_position(x + t.bert_proj(torch.zeros(1, text, arch.bert_dim)))
            parts = [x]
            if length > text:
                parts.append(t.ar_audio_position(t.ar_audio_embedding(_torch(rng.integers(0, arch.eos, (1, length - text))))))
            return torch.cat(parts, 1).numpy()

    def random_inputs(self, ref, spec, batch, length, rng):
        """Rows of `length` positions: random text lengths in 1..length, then prompt ids."""
        texts = rng.integers(1, length + 1, batch)
        embeds = np.concatenate([self._row(ref, int(x), length, rng) for x in texts])
        return {"inputs_embeds": embeds, "text_lengths": texts.astype(np.int32)}

    def prefill_inputs(self, ref, spec, case, rng):
        """Right-padded rows; the first row is all text (no prompt ids: upstream's ref_free), the others mixed."""
        new = row_lengths(case.batch, case.length, case.ragged)
        width = max(new)
        rows, texts = [], []
        for b, n in enumerate(new):
            text = n if b == 0 else int(rng.integers(1, n + 1))
            row = self._row(ref, text, n, rng)
            rows.append(np.pad(row, ((0, 0), (0, width - n), (0, 0))))
            texts.append(text)
        return {"inputs_embeds": np.concatenate(rows), "text_lengths": np.asarray(texts, np.int32)}, new

    def decode_inputs(self, ref, spec, batch, rng):
        """One semantic id per row at a random position; text lengths at most 1 (every past holds its text)."""
        import torch

        t = ref.t2s
        with torch.no_grad():
            ids = _torch(rng.integers(0, self.recipe.t2s.semantic, (batch, 1)))
            pe = t.ar_audio_position.pe[0, _torch(rng.integers(0, 1000, batch))][:, None]
            embeds = t.ar_audio_embedding(ids) * t.ar_audio_position.x_scale + t.ar_audio_position.alpha * pe
        return {"inputs_embeds": embeds.numpy(), "text_lengths": rng.integers(0, 2, batch).astype(np.int32)}

    def run_row(self, ref, spec, inputs, past, cached):
        """One row through upstream's T2STransformer: process_prompt with infer_panel_naive's xy_attn_mask
        (an empty past), else decode_next_token over its [1, T, hidden] caches (one new position)."""
        import torch
        import torch.nn.functional as F

        t, arch = ref.t2s, self.recipe.t2s
        xy = _torch(inputs["inputs_embeds"])
        n = xy.shape[1]
        if cached == 0:
            x_len = min(int(inputs["text_lengths"][0]), n)  # a row's text is at most its positions
            y_len = n - x_len
            x_mask = F.pad(torch.zeros((x_len, x_len), dtype=torch.bool), (0, y_len), value=True)
            y_mask = F.pad(torch.triu(torch.ones(y_len, y_len, dtype=torch.bool), diagonal=1), (x_len, 0), value=False)
            mask = torch.concat([x_mask, y_mask], dim=0).unsqueeze(0).expand(arch.heads, -1, -1).view(1, arch.heads, n, n)
            dec, keys, values = t.t2s_transformer.process_prompt(xy, mask, None)
        else:
            if n != 1:
                raise ValueError("upstream decodes one position at a time after its prompt")
            keys = [_heads_to_flat(p) for p in past[0::2]]
            values = [_heads_to_flat(p) for p in past[1::2]]
            dec, keys, values = t.t2s_transformer.decode_next_token(xy, keys, values)
        logits = t.ar_predict_layer(dec[:, -1])
        flat = [_flat_to_heads(c, arch.heads) for pair in zip(keys, values) for c in pair]
        return {"logits": logits[0].numpy()}, flat

    def perturb(self, spec, name, feed, rng):
        """text_lengths: one text position fewer in prefill rows that have prompt ids (a decode step's mask is
        causal whatever its text length, as upstream's decode_next_token has none)."""
        if name != "text_lengths":
            return super().perturb(spec, name, feed, rng)
        texts, new = np.asarray(feed[name]), np.asarray(feed[spec.lengths.new])
        if np.asarray(feed[spec.lengths.cached]).any():
            return None
        spare = (texts > 1) & (texts <= new)
        return np.where(spare, texts - 1, texts).astype(texts.dtype) if spare.any() else None

    def axis_ranges(self, max_batch):
        capacity = self.recipe.kv_capacity
        return {"sequence": (1, min(TYPICAL_PROMPT, capacity), capacity),
                "capacity": (1, capacity, capacity)}


def _heads_to_flat(cache):
    """[1, heads, T, D] -> upstream's [1, T, heads * D]."""
    return cache.transpose(1, 2).reshape(cache.shape[0], cache.shape[2], -1)


def _flat_to_heads(cache, heads: int):
    """upstream's [1, T, heads * D] -> [1, heads, T, D]."""
    b, n, width = cache.shape
    return cache.view(b, n, heads, width // heads).transpose(1, 2)


class Vits(GptSovitsKind):
    """SynthesizerTrn.decode: semantic ids, the text's phonemes, a reference spectrogram and noise -> audio."""

    def decode_inputs(self, *extra: TensorSpec) -> tuple[TensorSpec, ...]:
        """decode's inputs (codes, phonemes, the reference spectrogram, the noise), then `extra`, then v2Pro's sv_emb."""
        v, t = self.recipe.vits, self.recipe.t2s
        inputs = (TensorSpec("codes", "int64", (1, 1, "codes"), (0, v.codebook)),
                  TensorSpec("phoneme_ids", "int64", (1, "phonemes"), (0, t.phonemes)),
                  TensorSpec("refer", "float32", (1, v.spec_channels, "refer_frames")),
                  TensorSpec("noise", "float32", (1, v.inter_channels, "frames")), *extra)
        return inputs + ((TensorSpec("sv_emb", "float32", (1, v.sv_dim)),) if v.is_pro else ())

    @property
    def spec(self):
        v = self.recipe.vits
        sv = " and the reference's speaker-verification embedding (sv_emb)" if v.is_pro else ""
        return self._spec("vits", "vits", self.decode_inputs(), (TensorSpec("audio", "float32", (1, 1, "samples")),), VITS,
                          f"{v.version} decode(codes, text, refer{', sv_emb=' if v.is_pro else ''}) at speed 1, "
                          f"noise_scale {self.recipe.sampling.noise_scale}; noise is decode's randn_like, "
                          f"[1, {v.inter_channels}, 2 * codes]{sv}; samples = 2 * codes * {v.hop}; one row per call "
                          "(upstream's masks are batch 1).",
                          min_sizes=(("refer_frames", 8),))

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import VitsDecode, VitsDecodePro

        wrapper = VitsDecodePro if self.recipe.vits.is_pro else VitsDecode
        return wrapper(ref, self.recipe.sampling.noise_scale)

    def cases(self):
        return [Case("codes=10", 1, 10), Case("codes=75", 1, 75)]

    def example_case(self):
        return Case("export", 1, 12)

    def feed(self, ref, spec, case, rng):
        v, t = self.recipe.vits, self.recipe.t2s
        phonemes, frames = max(2, case.length // 2), 3 * case.length
        feed = {"codes": rng.integers(0, v.codebook, (1, 1, case.length)),
                "phoneme_ids": rng.integers(0, t.phonemes, (1, phonemes)),
                "refer": np.abs(rng.standard_normal((1, v.spec_channels, frames))).astype(np.float32),
                "noise": rng.standard_normal((1, v.inter_channels, MAX_FRAMES_PER_ID * case.length)).astype(np.float32)}
        if v.is_pro:  # an ERes2NetV2 embedding's scale: pooled statistics of order 1
            feed["sv_emb"] = rng.standard_normal((1, v.sv_dim)).astype(np.float32)
        return feed

    def reference(self, ref, spec, feed):
        import torch

        sv = {"sv_emb": _torch(feed["sv_emb"])} if "sv_emb" in feed else {}
        with torch.no_grad(), given_noise(_torch(feed["noise"])):
            audio = ref.vits.decode(_torch(feed["codes"]), _torch(feed["phoneme_ids"]), _torch(feed["refer"]),
                                    noise_scale=self.recipe.sampling.noise_scale, **sv)
        return outputs_of(spec, [audio])

    def perturb(self, spec, name, feed, rng):
        """refer: another, louder reference spectrogram. SoVITS's reference encoder pools over time, so the
        generic small noise on each bin averages away (on random weights it moves the audio below the
        tolerance); a different clip is what changes a voice."""
        if name != "refer":
            return super().perturb(spec, name, feed, rng)
        value = np.asarray(feed[name])
        return (3.0 * np.abs(rng.standard_normal(value.shape)) * (float(value.std()) or 1.0)).astype(value.dtype)

    def axis_ranges(self, max_batch):
        ids = self.recipe.sampling.max_steps
        return {"codes": (1, 250, ids), "phonemes": (1, 64, self.recipe.max_prompt), "refer_frames": (8, 300, 1000),
                "frames": (2, 500, MAX_FRAMES_PER_ID * ids)}


class VitsStream(Vits):
    """decode_streaming: one streamed chunk's audio from every id so far, and the latent the next one fades from."""

    @property
    def spec(self):
        v = self.recipe.vits
        inputs = self.decode_inputs(TensorSpec("overlap", "float32", (1, v.hidden_channels, "overlap_frames")),
                                    TensorSpec("fade", "float32", (2, "overlap_frames")))
        return self._spec("vits_stream", "stream", inputs,
                          (TensorSpec("audio", "float32", (1, 1, "samples")),
                           TensorSpec("latent", "float32", (1, v.hidden_channels, "frames"))), VITS,
                          f"{v.version} decode_streaming(codes so far, text, refer{', sv_emb' if v.is_pro else ''}, "
                          "result_length = frames / 2, overlap_frames = overlap) at speed 1: the text encoder over every "
                          "id, its last `frames` frames (the noise's length) kept, their first n faded as fade[0] * "
                          "frames + fade[1] * overlap (upstream's sine window; [1.., 0..] for a first chunk), then "
                          f"flow and decoder on those; samples = frames * {v.hop}; latent: the kept frames (the next "
                          "chunk's overlap is its tail).",
                          min_sizes=(("refer_frames", 8),))

    def module(self, ref, kv_cache="onnxruntime"):
        from .graphs import VitsChunk, VitsChunkPro

        wrapper = VitsChunkPro if self.recipe.vits.is_pro else VitsChunk
        return wrapper(ref, self.recipe.sampling.noise_scale)

    def cases(self):
        """A first chunk (every frame, no fade), a later one (its ids and the 2-id overlap), a short last one
        (upstream widens the overlap to 10 ids)."""
        return [Case("first chunk: codes=18", 1, 18), Case("chunk: codes=40, 16 new + 2 overlap ids", 1, 40),
                Case("short chunk: codes=30, 4 new + 8 overlap ids", 1, 30)]

    def example_case(self):
        return Case("export", 1, 12)

    def feed(self, ref, spec, case, rng):
        feed = super().feed(ref, spec, case, rng)
        v = self.recipe.vits
        if case.label.startswith("first"):
            kept, faded = case.length, 1
            fade = np.stack([np.ones(faded), np.zeros(faded)]).astype(np.float32)
        else:
            new = 16 if case.label.startswith("chunk") else 4
            overlap_ids = 2 if new >= 10 else 2 + 10 - new
            kept, faded = new + overlap_ids, MAX_FRAMES_PER_ID * overlap_ids
            fade = sine_fade(faded)
        feed["noise"] = rng.standard_normal((1, v.inter_channels, MAX_FRAMES_PER_ID * kept)).astype(np.float32)
        feed["overlap"] = rng.standard_normal((1, v.hidden_channels, faded)).astype(np.float32)
        feed["fade"] = fade
        return {name: feed[name] for name in spec.input_names}

    def reference(self, ref, spec, feed):
        """decode_streaming with result_length and overlap_frames (None for a first chunk's unfaded whole). A fade
        other than upstream's sine window (parity's changed input) is handed to it through models.WINDOW, the
        table decode_streaming keeps its windows in; upstream's own window is left to it."""
        import torch

        fade, frames = feed["fade"], feed["noise"].shape[2]
        first = np.array_equal(fade, np.stack([np.ones(fade.shape[1]), np.zeros(fade.shape[1])]))
        if first and frames != MAX_FRAMES_PER_ID * feed["codes"].shape[2]:
            raise ValueError("an unfaded chunk is a first chunk: its noise covers every id's frames")
        own = not first and not np.allclose(fade, sine_fade(fade.shape[1]), atol=1e-6)
        windows = ref.upstream.models.WINDOW
        saved = dict(windows)
        if own:
            windows[fade.shape[1]] = _torch(fade.reshape(-1))
        sv = {"sv_emb": _torch(feed["sv_emb"])} if "sv_emb" in feed else {}
        try:
            with torch.no_grad(), given_noise(_torch(feed["noise"])):
                audio, latent, _ = ref.vits.decode_streaming(
                    _torch(feed["codes"]), _torch(feed["phoneme_ids"]), _torch(feed["refer"]),
                    noise_scale=self.recipe.sampling.noise_scale,
                    result_length=None if first else frames // MAX_FRAMES_PER_ID,
                    overlap_frames=None if first else _torch(feed["overlap"]), **sv)
        finally:
            windows.clear()
            windows.update(saved)
        return outputs_of(spec, [audio, latent])

    def perturb(self, spec, name, feed, rng):
        """A first chunk's fade and overlap do nothing (nothing is faded): a later chunk's case changes them."""
        if name in ("fade", "overlap") and not feed["fade"][1].any():
            return None
        return super().perturb(spec, name, feed, rng)

    def axis_ranges(self, max_batch):
        return {**super().axis_ranges(max_batch), "overlap_frames": (1, 4, MAX_FRAMES_PER_ID * 11)}


@contextmanager
def given_noise(noise):
    """torch.randn_like returns `noise` (decode draws its one normal tensor that way) inside the block."""
    import torch

    original = torch.randn_like

    def randn_like(tensor, *args, **kwargs):
        if tuple(tensor.shape) != tuple(noise.shape):
            raise ValueError(f"decode drew noise of shape {tuple(tensor.shape)}; the feed's is {tuple(noise.shape)}")
        return noise.to(tensor.dtype)

    torch.randn_like = randn_like
    try:
        yield
    finally:
        torch.randn_like = original


KINDS = (EmbedText, EmbedAudio, T2S, Vits, VitsStream)  # pipeline order
