"""ChatTTS: what the model is (architectures, constants, budgets; its graphs are kinds.py's), for chattts-tiny and chattts.

Source: the `chattts` package 0.2.5 (`ChatTTS/config/config.py`, `core.py`, `model/gpt.py`).
Every constant that decides parity with `Chat.infer` is named here.

    text ──refine pass (optional)──> text ──code pass──> codes [4, T] + hiddens [T, H]
         hiddens ──decoder──> mel [100, 2T] ──vocos──> audio        (or codes ──dvae──> mel)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ttsx.recipes.family import Limits, RecipeBase
from ttsx.recipes.precision import DECODER_BUDGETS, Budget

N_FFT = 1024  # Vocos inverse STFT window, samples
HOP = 256  # samples per mel frame (24 kHz)
MEL_BINS = 100
MIN_MEL_FRAMES = 2  # the inverse STFT of one frame is empty: (frames - 1) * HOP samples
TYPICAL_PROMPT = 128  # GPT prompt positions of a short sentence (the prefill profile's opt for TensorRT)


@dataclass(frozen=True)
class GptArch:
    """The LlamaModel at ChatTTS's core, with its embeddings and heads (ChatTTS's GPT + Embed)."""

    layers: int
    hidden: int
    heads: int
    intermediate: int
    max_positions: int = 4096  # positions (prompt + generated tokens)
    num_vq: int = 4  # codebooks summed at the input, one head each at the output
    audio_tokens: int = 626  # ids per codebook, 625 = EOS
    text_tokens: int = 21_178  # tokenizer ids (bert-base-chinese + ChatTTS's 50 special tokens)
    spk_emb_dim: int = 192

    @property
    def head_dim(self) -> int:
        """Per-head width."""
        return self.hidden // self.heads


@dataclass(frozen=True)
class ConvStackArch:
    """A DVAEDecoder stack (ChatTTS's `Decoder` dataclass): conv in, ConvNeXt blocks, conv out."""

    idim: int
    odim: int
    hidden: int
    n_layer: int
    bn_dim: int


@dataclass(frozen=True)
class DvaeArch:
    """The DVAE: GFSQ codes -> features -> decoder stack -> mel (the encoder is built but never run)."""

    encoder: ConvStackArch
    decoder: ConvStackArch
    vq_dim: int = 1024
    levels: tuple[int, ...] = (5, 5, 5, 5)  # FSQ levels: 625 ids per quantizer
    groups: int = 2
    residuals: int = 2


@dataclass(frozen=True)
class VocosArch:
    """Vocos: ConvNeXt backbone on mel frames, ISTFT head."""

    dim: int = 512
    intermediate: int = 1536
    layers: int = 8


@dataclass(frozen=True)
class ChatTTSConstants:
    """Generation constants (ChatTTS's RefineTextParams / InferCodeParams defaults), with units."""

    code_eos: int = 625  # audio id that ends a row (in any codebook)
    max_code_tokens: int = 2048  # code tokens per text piece (2 mel frames, ~21.3 ms of audio each)
    max_refine_tokens: int = 384  # text tokens of the refine pass
    code_temperature: float = 0.3
    refine_temperature: float = 0.7
    top_p: float = 0.7
    top_k: int = 20
    min_keep: int = 3  # top-p / top-k keep at least this many ids
    code_repetition_penalty: float = 1.05
    refine_repetition_penalty: float = 1.0
    repetition_window: int = 16  # generated tokens the penalty counts
    code_prompt: str = "[speed_5]"
    sample_rate: int = 24_000  # Hz
    mel_frames_per_token: int = 2
    max_prompt_tokens: int = 512  # text tokens per piece before a long text is split (ttsx's window)


# Budgets per precision against fp32 PyTorch (`tokens`: the teacher-forced share of next-token choices),
# set with margin from the stability runs of docs/BENCHMARKS.md ("Quantized verdicts on every CPU").
# chattts-tiny's refine pass picks among 21178 near-tied text logits at width 64.
BUDGETS = dict(DECODER_BUDGETS)  # set on chattts; int4, random weights: worst 0.182, 0.969, 0.734
TINY_BUDGETS = {
    **BUDGETS,
    "fp16": Budget(rel_error=5e-3, top1=0.98, tokens=0.9),
    "int8": Budget(rel_error=0.05, top1=0.9, tokens=0.8),
    "int8-qdq": Budget(rel_error=0.06, top1=0.85, tokens=0.8),
    "int4": Budget(rel_error=0.2, top1=0.9, tokens=0.8),  # worst measured: 0.103, 1.0, 0.969
}
@dataclass(frozen=True)
class ChatTTSRecipe(RecipeBase):
    """A ChatTTS size: eight graphs."""

    name: str
    gpt: GptArch
    decoder: ConvStackArch
    dvae: DvaeArch
    vocos: VocosArch = VocosArch()
    constants: ChatTTSConstants = ChatTTSConstants()
    budgets: dict = field(default_factory=lambda: dict(BUDGETS))
    family: str = field(default="chattts", init=False)

    @property
    def limits(self) -> Limits:
        """Code tokens per text piece: what fits the positions after the prompt."""
        c = self.constants
        return Limits(max_tokens=min(c.max_code_tokens, self.gpt.max_positions - c.max_prompt_tokens),
                      default_tokens=c.max_code_tokens, sample_rate=c.sample_rate)

    @property
    def kv_positions(self) -> int:
        """The longest prompt piece plus the most code tokens."""
        return self.constants.max_prompt_tokens + self.constants.max_code_tokens



def _conv(idim, odim, hidden, n_layer, bn_dim) -> ConvStackArch:
    return ConvStackArch(idim, odim, hidden, n_layer, bn_dim)


CHATTTS_TINY = ChatTTSRecipe(
    "chattts-tiny",
    gpt=GptArch(layers=2, hidden=64, heads=4, intermediate=128),
    decoder=_conv(32, 32, 64, 2, 32),  # idim = hidden / 2: each hidden becomes two mel frames
    dvae=DvaeArch(encoder=_conv(32, 64, 32, 1, 16), decoder=_conv(32, 32, 32, 2, 16), vq_dim=64),
    vocos=VocosArch(dim=32, intermediate=64, layers=2),
    budgets=TINY_BUDGETS,
    description="ChatTTS's vocabularies, codebooks and audio geometry at a tiny width: for fast tests only.",
)
CHATTTS = ChatTTSRecipe(
    "chattts",
    gpt=GptArch(layers=20, hidden=768, heads=12, intermediate=3072),
    decoder=_conv(384, 384, 512, 12, 128),
    dvae=DvaeArch(encoder=_conv(512, 1024, 256, 12, 128), decoder=_conv(512, 512, 256, 12, 128)),
    description="2Noise/ChatTTS architecture (chattts 0.2.5 config).",
)
RECIPES = (CHATTTS_TINY, CHATTTS)
