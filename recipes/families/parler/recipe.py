"""Parler-TTS: what the model is (T5 encoder, decoder and DAC sizes, generation constants, budgets).

Source: parler-tts 0.2.3 (`parler_tts/modeling_parler_tts.py`: `ParlerTTSForConditionalGeneration.generate`,
`build_delay_pattern_mask`; `logits_processors.py`: `ParlerTTSLogitsProcessor`) and the sizes its v1
checkpoints are made of (flan-t5-large encoder; ../shared/FACTS.md "Parler-TTS"). Every constant that
decides parity with them is named here.

    description ──T5 encoder (+ projection) ──> cross-attention keys and values, once per utterance
    transcript ──embed_prompt──┐
    BOS codes ──embed_codes────┴─> decoder prefill, then one frame of 9 codes per step (delay pattern)
    undelayed codes ──dac──> audio (44.1 kHz)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ttsx.recipes.family import Limits, RecipeBase
from ttsx.recipes.precision import DECODER_BUDGETS, Budget


@dataclass(frozen=True)
class T5Arch:
    """The description encoder (transformers' T5EncoderModel)."""

    vocab: int = 32128
    d_model: int = 1024
    d_kv: int = 64
    d_ff: int = 2816
    layers: int = 24
    heads: int = 16
    feed_forward: str = "gated-gelu"

    def kwargs(self) -> dict:
        """transformers' T5Config arguments."""
        return dict(vocab_size=self.vocab, d_model=self.d_model, d_kv=self.d_kv, d_ff=self.d_ff,
                    num_layers=self.layers, num_heads=self.heads, feed_forward_proj=self.feed_forward,
                    decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, dropout_rate=0.0)

    def config(self):
        from transformers import T5Config

        return T5Config(**self.kwargs())


@dataclass(frozen=True)
class DecoderArch:
    """ParlerTTSDecoderConfig: pre-norm, bias-free attention and GELU FFN, sinusoidal positions, 9 heads."""

    layers: int = 24
    hidden: int = 1024
    heads: int = 16
    kv_heads: int = 16
    ffn: int = 4096
    codebooks: int = 9
    vocab: int = 1088  # 1024 codes, EOS/PAD 1024, BOS 1025, and ids nothing guards (1026..1087)
    max_positions: int = 4096  # sinusoidal table rows: prompt plus generated frames
    pad: int = 1024  # = EOS: a finished codebook is fed PAD
    bos: int = 1025

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def eos(self) -> int:
        return self.pad

    def kwargs(self) -> dict:
        """parler_tts's ParlerTTSDecoderConfig arguments."""
        return dict(vocab_size=self.vocab, hidden_size=self.hidden, num_hidden_layers=self.layers,
                    num_attention_heads=self.heads, num_key_value_heads=self.kv_heads,
                    num_cross_attention_key_value_heads=self.kv_heads, ffn_dim=self.ffn, num_codebooks=self.codebooks,
                    max_position_embeddings=self.max_positions, dropout=0.0, pad_token_id=self.pad,
                    eos_token_id=self.eos, bos_token_id=self.bos, rope_embeddings=False)

    def config(self):
        from parler_tts import ParlerTTSDecoderConfig

        return ParlerTTSDecoderConfig(**self.kwargs())


@dataclass(frozen=True)
class DacArch:
    """The codec (transformers' DacModel, which decodes as descript's DAC does; docs/research/parler)."""

    encoder_hidden: int = 64
    downsampling: tuple[int, ...] = (2, 4, 8, 8)
    decoder_hidden: int = 1536
    codebooks: int = 9
    codebook_size: int = 1024
    codebook_dim: int = 8
    latent: int = 1024
    sample_rate: int = 44_100

    @property
    def hop(self) -> int:
        """Audio samples per frame of codes."""
        hop = 1
        for r in self.downsampling:
            hop *= r
        return hop

    def kwargs(self) -> dict:
        """transformers' DacConfig arguments."""
        return dict(encoder_hidden_size=self.encoder_hidden, downsampling_ratios=list(self.downsampling),
                    decoder_hidden_size=self.decoder_hidden, n_codebooks=self.codebooks,
                    codebook_size=self.codebook_size, codebook_dim=self.codebook_dim, hidden_size=self.latent,
                    sampling_rate=self.sample_rate)

    def config(self):
        from transformers import DacConfig

        return DacConfig(**self.kwargs())


@dataclass(frozen=True)
class Sampling:
    """generate's defaults as Parler's checkpoints set them (do_sample, top_k 50 from GenerationConfig)."""

    top_k: int = 50
    top_p: float = 1.0
    temperature: float = 1.0
    max_steps: int = 2579  # generation_config.max_length 2580 (30 s at 86 frames/s) less the start column
    min_steps: int = 17  # 2 * codebooks - 1: below it build_delay_pattern_mask applies no delay (ttsx refuses)


# Budgets per precision against fp32 PyTorch (`tokens`: the teacher-forced share of next-code choices), from
# `python scripts/parity_stability.py ART --threads 1 2` on parler-tts-tiny: its worst values are beside each budget
# below (that run's table was not kept in docs/BENCHMARKS.md).
BUDGETS = dict(DECODER_BUDGETS)  # parler-tts-mini: the other real-size decoders' (ChatTTS's, GPT-SoVITS's)
TINY_BUDGETS = {  # parler-tts-tiny, worst of 1 and 2 threads and three held-out prompt pairs, with margin
    "fp32": BUDGETS["fp32"],
    "fp16": Budget(rel_error=5e-3, top1=0.98, tokens=0.9),  # measured 0.00073, 1.0, 0.991
    "int8": Budget(rel_error=0.08, top1=0.9, tokens=0.8),  # measured 0.034, 0.960, 0.925
    "int8-qdq": Budget(rel_error=0.1, top1=0.9, tokens=0.8),  # measured 0.036, 0.960, 0.925
    "int4": Budget(rel_error=0.3, top1=0.7, tokens=0.6),  # measured 0.153, 0.818, 0.748
}


@dataclass(frozen=True)
class ParlerRecipe(RecipeBase):
    """A Parler-TTS size: five graphs (encoder, embed_prompt, embed_codes, decoder, dac)."""

    name: str
    t5: T5Arch = T5Arch()
    decoder: DecoderArch = DecoderArch()
    dac: DacArch = DacArch()
    sampling: Sampling = Sampling()
    max_description: int = 256  # T5 tokens of a description
    max_prompt: int = 256  # T5 tokens of a transcript piece (the decoder's prefill)
    budgets: dict = field(default_factory=lambda: dict(BUDGETS))
    family: str = field(default="parler", init=False)

    @property
    def limits(self) -> Limits:
        s = self.sampling
        return Limits(max_tokens=s.max_steps, default_tokens=s.max_steps, max_text_chars=4096,
                      sample_rate=self.dac.sample_rate)

    @property
    def kv_positions(self) -> int:
        """The longest prompt, the start column and the most generated frames."""
        return self.max_prompt + 1 + self.sampling.max_steps



PARLER_TINY = ParlerRecipe(
    "parler-tts-tiny",
    t5=T5Arch(vocab=384, d_model=48, d_kv=12, d_ff=96, layers=2, heads=4),
    decoder=DecoderArch(layers=2, hidden=64, heads=4, kv_heads=4, ffn=128, max_positions=1024),
    dac=DacArch(encoder_hidden=8, decoder_hidden=32, latent=32),
    sampling=Sampling(max_steps=600),
    max_description=256, max_prompt=128,
    budgets=TINY_BUDGETS,
    description="Parler-TTS's vocabularies, codebooks, delay pattern and DAC geometry at a tiny width (the T5 "
                "width differs from the decoder's, so the encoder projection is exercised): for fast tests only.",
)
PARLER_MINI = ParlerRecipe(
    "parler-tts-mini",
    description="Parler-TTS Mini v1 sizes: flan-t5-large encoder (24 x 1024), decoder 24 x 1024, 16 heads, "
                "9 codebooks of 1088 ids, DAC 44.1 kHz.",
)
RECIPES = (PARLER_TINY, PARLER_MINI)
