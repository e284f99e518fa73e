"""GPT-SoVITS v2: what the model is (t2s and SoVITS sizes, constants, budgets; its graphs are kinds.py's).

Source: upstream RVC-Boss/GPT-SoVITS (MIT), the user's checkout (`GPT_SOVITS_HOME`):
`GPT_SoVITS/configs/s1longer-v2.yaml` (t2s), `GPT_SoVITS/configs/s2.json` (SoVITS),
`AR/models/t2s_model.py` (`infer_panel_naive`), `AR/models/utils.py` (`sample`), `module/models.py`
(`SynthesizerTrn.decode`). Every constant that decides parity with them is named here.

    phonemes (reference text + text) ──embed_text──┐
    prompt semantic ids ──embed_audio──────────────┴─> t2s (prefix-LM prefill, then one id per step) ─> ids
    ids, phonemes of the text, reference spectrogram, noise ──vits──> audio (32 kHz)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ttsx.recipes.family import Limits, RecipeBase
from ttsx.recipes.precision import DECODER_BUDGETS, Budget


@dataclass(frozen=True)
class T2SArch:
    """The text-to-semantic GPT (Text2SemanticDecoder): post-norm, ReLU, prefix-LM over text then audio."""

    layers: int = 24
    hidden: int = 512
    heads: int = 16
    ffn: int = 2048  # upstream builds dim_feedforward = 4 * hidden
    phonemes: int = 732  # phoneme_vocab_size (text/symbols2.py)
    semantic: int = 1025  # vocab_size: 1024 semantic ids + EOS
    bert_dim: int = 1024  # BERT features per phoneme (zeros outside Chinese)
    positions: int = 4000  # rows of each sine position table (SinePositionalEmbedding.extend_pe)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def eos(self) -> int:
        return self.semantic - 1

    def config(self) -> dict:
        """The t2s config dict upstream's Text2SemanticDecoder reads."""
        return {"model": {"vocab_size": self.semantic, "phoneme_vocab_size": self.phonemes,
                          "embedding_dim": self.hidden, "hidden_dim": self.hidden, "head": self.heads,
                          "linear_units": self.ffn, "n_layer": self.layers, "dropout": 0, "EOS": self.eos,
                          "random_bert": 0}}


PRO_VERSIONS = ("v2Pro", "v2ProPlus")  # module/models.py v2pro_set: a speaker-verification embedding joins `ge`


@dataclass(frozen=True)
class VitsArch:
    """SynthesizerTrn (configs/s2.json "model" for v2, s2v2Pro.json / s2v2ProPlus.json; 25 Hz ids, 32 kHz audio)."""

    inter_channels: int = 192
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    upsample_rates: tuple[int, ...] = (10, 8, 2, 2, 2)
    upsample_initial_channel: int = 512
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8, 2, 2)
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    gin_channels: int = 512
    spec_channels: int = 1025  # filter_length 2048 // 2 + 1
    codebook: int = 1024  # semantic ids the quantizer decodes
    version: str = "v2"  # SynthesizerTrn's `version`: "v2", "v2Pro" or "v2ProPlus"
    sv_dim: int = 20480  # v2Pro/ProPlus: the ERes2NetV2 embedding (sv.py compute_embedding3) that sv_emb projects

    @property
    def is_pro(self) -> bool:
        """v2Pro and v2ProPlus add the speaker-verification embedding to the reference encoder's output."""
        return self.version in PRO_VERSIONS

    @property
    def hop(self) -> int:
        """Audio samples per 50 Hz frame (each semantic id makes two)."""
        hop = 1
        for r in self.upsample_rates:
            hop *= r
        return hop

    def kwargs(self) -> dict:
        """SynthesizerTrn's constructor arguments (upstream: **hps.model plus spec_channels, segment_size)."""
        return dict(spec_channels=self.spec_channels, segment_size=20480 // self.hop,
                    inter_channels=self.inter_channels, hidden_channels=self.hidden_channels,
                    filter_channels=self.filter_channels, n_heads=self.n_heads, n_layers=self.n_layers,
                    kernel_size=self.kernel_size, p_dropout=0.1, resblock="1",
                    resblock_kernel_sizes=list(self.resblock_kernel_sizes),
                    resblock_dilation_sizes=[[1, 3, 5]] * len(self.resblock_kernel_sizes),
                    upsample_rates=list(self.upsample_rates), upsample_initial_channel=self.upsample_initial_channel,
                    upsample_kernel_sizes=list(self.upsample_kernel_sizes), n_layers_q=3, use_spectral_norm=False,
                    gin_channels=self.gin_channels, semantic_frame_rate="25hz", freeze_quantizer=True,
                    version=self.version, n_speakers=300)


@dataclass(frozen=True)
class ClipArch:
    """A reference clip's models (get_tts_wav): cnhubert (transformers' HubertModel, chinese-hubert-base) whose last
    hidden state SoVITS's extract_latent turns into prompt ids, and v2Pro's speaker-verification model (sv.py:
    ERes2NetV2(baseWidth=24, scale=4, expansion=4) over an 80-bin Kaldi fbank; forward3 pools it to 20480)."""

    hubert_layers: int = 12
    hubert_heads: int = 12
    hubert_ffn: int = 3072
    hubert_conv: int = 512  # channels of each of the 7 feature-encoder convolutions
    hubert_pos_kernel: int = 128  # the convolutional position embedding's kernel (16 groups)
    sv_blocks: tuple[int, ...] = (3, 4, 6, 3)
    sv_base_width: int = 24
    sv_scale: int = 4
    sv_expansion: int = 4
    sv_channels: int = 64  # m_channels: 64 * 8 * expansion * (80 bins / 8) = 20480, what SynthesizerTrn's sv_emb reads
    rate: int = 16_000  # Hz: cnhubert's and the fbank's rate
    min_samples: int = 48_000  # 3 s at 16 kHz (get_tts_wav refuses shorter clips)
    max_samples: int = 160_000  # 10 s
    pause_samples: int = 9_600  # zeros appended before cnhubert: upstream's int(32000 * 0.3), at 16 kHz
    fbank_bins: int = 80

    def hubert_config(self) -> dict:
        """transformers.HubertConfig arguments (hidden 768: SoVITS's ssl_proj reads 768 channels)."""
        return dict(hidden_size=768, num_hidden_layers=self.hubert_layers, num_attention_heads=self.hubert_heads,
                    intermediate_size=self.hubert_ffn, conv_dim=(self.hubert_conv,) * 7,
                    num_conv_pos_embeddings=self.hubert_pos_kernel, num_conv_pos_embedding_groups=16)

    def sv_kwargs(self) -> dict:
        """ERes2NetV2's constructor arguments."""
        return dict(num_blocks=list(self.sv_blocks), m_channels=self.sv_channels, baseWidth=self.sv_base_width,
                    scale=self.sv_scale, expansion=self.sv_expansion)


@dataclass(frozen=True)
class Sampling:
    """infer_panel_naive's rules and the web UI's defaults (inference_webui.get_tts_wav)."""

    top_k: int = 15  # configs: inference.top_k
    top_p: float = 1.0
    temperature: float = 1.0
    repetition_penalty: float = 1.35  # over every earlier id, the prompt's included
    min_steps: int = 11  # EOS is masked while idx < 11
    max_steps: int = 1500  # the loop's cap (idx == 1499 stops)
    noise_scale: float = 0.5  # SynthesizerTrn.decode's noise_scale
    sample_rate: int = 32_000  # Hz
    semantic_rate: int = 25  # ids per second of audio


# Budgets per precision against fp32 PyTorch (`tokens`: the teacher-forced share of next-id choices), from
# `python scripts/parity_stability.py ART --threads 1 2` (default prompts at both thread counts, then three
# held-out prompt pairs; docs/BENCHMARKS.md "GPT-SoVITS"). gpt-sovits-v2 takes the bounds of the other
# real-size GPTs (ChatTTS's); on random weights only fp16 meets them: the random t2s falls into loops over a
# dozen near-tied ids (logit std 0.58, median top-2 gap 0.09) that the repetition penalty rotates, so int8's
# error (t2s caches rel L2 0.10) flips a tie that then repeats every step (teacher-forced 0.13-0.41).
# The bounds were not loosened to pass (they would judge nothing); a checkpoint's artifact is judged by them.
# v2 on random weights, worst rel L2, top-1, teacher-forced: fp16 0.0020, 1.0, 0.984; int8 0.104, 0.827, 0.125
# (fails); int8-qdq 0.159, 0.75, 0.17 (fails; held-out pairs 0.33-0.52); int4 0.524, 0.673, 0.125 (fails).
BUDGETS = dict(DECODER_BUDGETS)
TINY_BUDGETS = {  # gpt-sovits-tiny, worst of 1 and 2 threads and three held-out prompt pairs, with margin
    "fp32": BUDGETS["fp32"],
    "fp16": Budget(rel_error=5e-3, top1=0.98, tokens=0.9),  # measured 0.0023, 1.0, 1.0
    "int8": Budget(rel_error=0.06, top1=0.85, tokens=0.75),  # measured 0.028, 0.942, 0.906
    "int8-qdq": Budget(rel_error=0.12, top1=0.85, tokens=0.75),  # measured 0.066, 0.942, 0.938
    "int4": Budget(rel_error=0.3, top1=0.7, tokens=0.55),  # measured 0.205, 0.827, 0.688
}


@dataclass(frozen=True)
class GptSovitsRecipe(RecipeBase):
    """A GPT-SoVITS size: four graphs (embed_text, embed_audio, t2s, vits)."""

    name: str
    t2s: T2SArch = T2SArch()
    vits: VitsArch = VitsArch()
    sampling: Sampling = Sampling()
    clip: ClipArch = ClipArch()
    max_prompt: int = 512  # positions of the t2s prefill: reference and text phonemes plus the prompt ids
    budgets: dict = field(default_factory=lambda: dict(BUDGETS))
    family: str = field(default="gpt_sovits", init=False)

    @property
    def limits(self) -> Limits:
        s = self.sampling
        return Limits(max_tokens=s.max_steps, default_tokens=s.max_steps, max_text_chars=4096,
                      sample_rate=s.sample_rate)

    @property
    def kv_positions(self) -> int:
        """The longest prefill plus the most generated ids."""
        return self.max_prompt + self.sampling.max_steps

    def kind_types(self) -> tuple:
        """embed_text, embed_audio, t2s, vits (kinds.py); clip_ids, and speaker for v2Pro/ProPlus (clip_kinds.py)."""
        from .clip_kinds import CLIP_KINDS, PRO_KINDS
        from .kinds import KINDS

        return KINDS + CLIP_KINDS + (PRO_KINDS if self.vits.is_pro else ())


TINY_CLIP = ClipArch(hubert_layers=1, hubert_ffn=256, hubert_conv=32, hubert_pos_kernel=16, sv_blocks=(1, 1, 1, 1),
                     sv_base_width=8, sv_scale=2)  # the sv model keeps 64 channels x 4: sv_emb reads 20480
GPT_SOVITS_TINY = GptSovitsRecipe(
    "gpt-sovits-tiny",
    t2s=T2SArch(layers=2, hidden=64, heads=4, ffn=256),
    # hidden_channels 192 and gin_channels 512 are fixed by upstream's MRTE (built with its defaults)
    vits=VitsArch(inter_channels=32, filter_channels=96, n_layers=2, upsample_initial_channel=64,
                  resblock_kernel_sizes=(3,)),
    clip=TINY_CLIP, budgets=TINY_BUDGETS,
    description="GPT-SoVITS v2's vocabularies, rates and audio geometry at a tiny width: for fast tests only.",
)
GPT_SOVITS_V2 = GptSovitsRecipe(
    "gpt-sovits-v2",
    description="GPT-SoVITS v2: t2s (s1longer-v2.yaml, 24 x 512) and SynthesizerTrn v2 (s2.json, 32 kHz).",
)
# v2Pro/ProPlus: the same t2s as v2; SynthesizerTrn with gin 1024 (its MRTE reads ge_to512(ge)) and the sv embedding
V2PRO = VitsArch(gin_channels=1024, version="v2Pro")  # s2v2Pro.json
V2PROPLUS = VitsArch(gin_channels=1024, upsample_initial_channel=768, upsample_kernel_sizes=(20, 16, 8, 2, 2),
                     version="v2ProPlus")  # s2v2ProPlus.json
GPT_SOVITS_V2PRO = GptSovitsRecipe(
    "gpt-sovits-v2pro", vits=V2PRO,
    description="GPT-SoVITS v2Pro: v2's t2s, SynthesizerTrn v2Pro (s2v2Pro.json) with the speaker-verification "
                "embedding.",
)
GPT_SOVITS_V2PROPLUS = GptSovitsRecipe(
    "gpt-sovits-v2proplus", vits=V2PROPLUS,
    description="GPT-SoVITS v2ProPlus (upstream's flagship): v2's t2s, SynthesizerTrn v2ProPlus (s2v2ProPlus.json, "
                "a wider decoder) with the speaker-verification embedding.",
)
# tiny Pro variants: gin is free there (the MRTE reads ge_to512(ge)), so it is small; ProPlus keeps its kernel 20
TINY_PRO = dict(inter_channels=32, filter_channels=96, n_layers=2, upsample_initial_channel=64,
                resblock_kernel_sizes=(3,), gin_channels=64)
GPT_SOVITS_V2PRO_TINY = GptSovitsRecipe(
    "gpt-sovits-v2pro-tiny", t2s=GPT_SOVITS_TINY.t2s, vits=VitsArch(**TINY_PRO, version="v2Pro"),
    clip=TINY_CLIP, budgets=TINY_BUDGETS, description="GPT-SoVITS v2Pro at a tiny width: for fast tests only.",
)
GPT_SOVITS_V2PROPLUS_TINY = GptSovitsRecipe(
    "gpt-sovits-v2proplus-tiny", t2s=GPT_SOVITS_TINY.t2s,
    vits=VitsArch(**TINY_PRO, upsample_kernel_sizes=(20, 16, 8, 2, 2), version="v2ProPlus"),
    clip=TINY_CLIP, budgets=TINY_BUDGETS, description="GPT-SoVITS v2ProPlus at a tiny width: for fast tests only.",
)
RECIPES = (GPT_SOVITS_TINY, GPT_SOVITS_V2, GPT_SOVITS_V2PRO_TINY, GPT_SOVITS_V2PRO, GPT_SOVITS_V2PROPLUS_TINY,
           GPT_SOVITS_V2PROPLUS)
