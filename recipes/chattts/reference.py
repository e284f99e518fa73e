"""ChatTTS's PyTorch reference (a `ChatTTS.Chat`): loading it, parity cases, seeded feeds, reference outputs.

The reference is ChatTTS's own object and modules (chattts 0.2.5: `GPT`, `Embed`, `DVAE`, `Speaker`,
`Tokenizer`, `vocos.Vocos`), built the way `Chat._load` builds them; references call those modules
the way `Chat.infer` does (float masks and positions into the LlamaModel, `Embed.forward`, the
weight-normed heads, `DVAE.forward`, `Vocos.decode`), never the export wrappers.
"""
from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from ttsx.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers
from ttsx.recipes.spec import GraphSpec

from .graphs import build_cache, flatten_cache
from .recipe import MEL_BINS, MIN_MEL_FRAMES, ChatTTSRecipe
from .tokenizer import write_stand_in_tokenizer

INSTALL = "pip install 'ttsx[chattts]' (ChatTTS is AGPL-3.0 code, imported, never shipped by ttsx)"
HOW_TO_GET = (
    "On a machine with network access run: python -c \"from huggingface_hub import snapshot_download; "
    "snapshot_download('2Noise/ChatTTS', local_dir='DIR', allow_patterns=['asset/*'])\" and pass --model DIR "
    "(its weights are CC BY-NC 4.0), or use --random-weights to exercise the toolchain without real weights."
)
ASSETS = {"vocos_ckpt_path": "asset/Vocos.safetensors", "dvae_ckpt_path": "asset/DVAE.safetensors",
          "gpt_ckpt_path": "asset/gpt", "embed_path": "asset/Embed.safetensors",
          "decoder_ckpt_path": "asset/Decoder.safetensors", "tokenizer_path": "asset/tokenizer"}
LAYER_SCALE = (0.05, 0.3)  # random ConvNeXt layer scales: init's 1e-6 would hide every block


def import_chattts():
    """The ChatTTS package, importable on a machine without a working torchaudio (ttsx.torchaudio_guard)."""
    from ttsx import torchaudio_guard

    try:
        import torchaudio  # noqa: F401  (the real one, or the guard's stand-in if it can't load)
    except ImportError:
        torchaudio_guard.stand_in()
    try:
        import ChatTTS
    except ImportError as exc:
        raise SourceError(f"the ChatTTS family needs the chattts package ({exc}); {INSTALL}") from None
    logging.getLogger("ChatTTS").setLevel(logging.ERROR)
    return ChatTTS


def chattts_config(recipe: ChatTTSRecipe):
    """ChatTTS's Config with the recipe's sizes (the speaker statistics cut to the GPT width)."""
    ChatTTS = import_chattts()
    from ChatTTS.config.config import Config, Decoder, DVAE, VQ

    import pybase16384 as b14

    g, config = recipe.gpt, Config()
    config.gpt.hidden_size, config.gpt.intermediate_size = g.hidden, g.intermediate
    config.gpt.num_attention_heads, config.gpt.num_hidden_layers = g.heads, g.layers
    config.gpt.max_position_embeddings = g.max_positions
    config.embed.hidden_size = g.hidden
    config.decoder = Decoder(**asdict(recipe.decoder))
    d = recipe.dvae
    config.dvae = DVAE(encoder=Decoder(**asdict(d.encoder)), decoder=Decoder(**asdict(d.decoder)),
                       vq=VQ(dim=d.vq_dim, levels=d.levels, G=d.groups, R=d.residuals))
    v = recipe.vocos
    config.vocos.backbone.init_args.dim = v.dim
    config.vocos.backbone.init_args.intermediate_dim = v.intermediate
    config.vocos.backbone.init_args.num_layers = v.layers
    config.vocos.head.init_args.dim = v.dim
    stat = np.frombuffer(b14.decode_from_string(config.spk_stat), np.float16)  # std (768) ++ mean (768)
    half = len(stat) // 2
    config.spk_stat = b14.encode_to_string(np.concatenate([stat[: g.hidden], stat[half: half + g.hidden]]).tobytes())
    del ChatTTS
    return config


def random_reference(recipe: ChatTTSRecipe, seed: int):
    """A Chat with the recipe's architecture and seeded random weights, built as Chat._load builds it."""
    ChatTTS = import_chattts()
    from ChatTTS.model import DVAE, GPT, Embed, Speaker, Tokenizer
    from transformers import LlamaModel

    chat = ChatTTS.Chat(logging.getLogger("ChatTTS"))
    chat.config = config = chattts_config(recipe)
    chat.device = chat.device_gpt = torch.device("cpu")
    chat.compile = False
    torch.manual_seed(seed)
    chat.vocos = _vocos(config)
    torch.manual_seed(seed + 1)
    chat.dvae = DVAE(decoder_config=asdict(config.dvae.decoder), encoder_config=asdict(config.dvae.encoder),
                     vq_config=asdict(config.dvae.vq), dim=config.dvae.decoder.idim, coef=None).eval()
    torch.manual_seed(seed + 2)
    chat.embed = Embed(config.embed.hidden_size, config.embed.num_audio_tokens, config.embed.num_text_tokens,
                       config.embed.num_vq)
    chat.gpt = GPT(gpt_config=asdict(config.gpt), embed=chat.embed, logger=chat.logger).eval()
    torch.manual_seed(seed + 3)
    chat.gpt.gpt = LlamaModel(chat.gpt.llama_config).eval()
    del chat.gpt.gpt.embed_tokens  # as GPT.load_pretrained does
    chat.speaker = Speaker(config.gpt.hidden_size, config.spk_stat, chat.device)
    torch.manual_seed(seed + 4)
    chat.decoder = DVAE(decoder_config=asdict(config.decoder), dim=config.decoder.idim, coef=str(chat.dvae)).eval()
    chat.coef = str(chat.decoder)
    generator = torch.Generator().manual_seed(seed)
    for module in (chat.dvae, chat.decoder):
        _fill_layer_scales(module, generator)
    for module in _modules(chat).values():
        fill_degenerate_buffers(module, generator)
    with tempfile.TemporaryDirectory() as tmp:
        chat.tokenizer = Tokenizer(write_stand_in_tokenizer(Path(tmp), recipe.gpt.text_tokens))
    return chat


def _vocos(config):
    from vocos import Vocos
    from vocos.pretrained import instantiate_class

    parts = {name: instantiate_class(args=(), init=asdict(getattr(config.vocos, name)))
             for name in ("feature_extractor", "backbone", "head")}
    return Vocos(**parts).eval()


def _fill_layer_scales(dvae, generator) -> None:
    """ConvNeXt layer scales start at 1e-6, which makes a random DVAE's blocks contribute nothing."""
    low, high = LAYER_SCALE
    for block in [*dvae.decoder.decoder_block, *getattr(getattr(dvae, "encoder", None), "decoder_block", [])]:
        if block.weight is not None:
            with torch.no_grad():
                block.weight.copy_(low + (high - low) * torch.rand(block.weight.shape, generator=generator))


def checkpoint_reference(recipe: ChatTTSRecipe, source: ModelSource):
    """Chat._load on a local snapshot of the 2Noise/ChatTTS repository (its asset/ files), CPU, fp32."""
    ChatTTS = import_chattts()
    root = source.directory
    if root is None:
        raise SourceError(f"ChatTTS loads from a local snapshot directory, not a hub id ({source.location}). "
                          f"{HOW_TO_GET}")
    missing = [rel for rel in ASSETS.values() if not (root / rel).exists()]
    if missing:
        raise SourceError(f"{root} is not a ChatTTS snapshot: missing {', '.join(missing)}. {HOW_TO_GET}")
    chat = ChatTTS.Chat(logging.getLogger("ChatTTS"))
    chat.config = chattts_config(recipe)
    try:
        loaded = chat._load(device=torch.device("cpu"), **{k: str(root / v) for k, v in ASSETS.items()})
    except (OSError, RuntimeError, ValueError) as exc:  # safetensors only: no pickle is ever loaded
        raise SourceError(f"could not load ChatTTS weights from {root}: {exc}") from exc
    if not loaded:
        raise SourceError(f"ChatTTS could not load every module from {root}; check the snapshot is complete")
    check_architecture(recipe, chat)
    return chat


def check_architecture(recipe: ChatTTSRecipe, chat) -> None:
    """The loaded GPT must have the recipe's layers, width and heads."""
    got = chat.gpt.gpt.config
    want = recipe.gpt
    diffs = [f"{name}: checkpoint {getattr(got, key)} != recipe {value}"
             for name, key, value in (("layers", "num_hidden_layers", want.layers), ("hidden", "hidden_size", want.hidden),
                                      ("heads", "num_attention_heads", want.heads))
             if getattr(got, key) != value]
    if diffs:
        raise SourceError(f"checkpoint does not match recipe {recipe.name!r}: " + "; ".join(diffs))


def load_reference(recipe: ChatTTSRecipe, source: ModelSource):
    """The reference Chat for a source."""
    if source.kind == "random":
        return random_reference(recipe, source.seed)
    return checkpoint_reference(recipe, source)


def _modules(chat) -> dict:
    """The torch modules holding the reference's weights, by name."""
    return {"gpt": chat.gpt.gpt, "embed": chat.embed, "decoder": chat.decoder, "dvae": chat.dvae, "vocos": chat.vocos}


@dataclass(frozen=True)
class Case:
    """One parity case: a label and the sizes it exercises."""

    label: str
    batch: int
    length: int  # tokens, past length or mel frames
    padded: bool = False  # left padding in the attention mask (GPT graphs)


def parity_cases(recipe: ChatTTSRecipe, spec: GraphSpec) -> list[Case]:
    """Batch 1 and > 1, left-padded prompts, pasts up to the position limit, short and long audio."""
    limit = recipe.gpt.max_positions
    return {
        "embed_text": [Case("batch=1 T=7", 1, 7), Case("batch=3 T=40", 3, 40)],
        "embed_code": [Case("batch=1 T=1", 1, 1), Case("batch=3 T=40", 3, 40)],
        "gpt_prefill": [Case("batch=3 T=37 left-padded", 3, 37, True), Case("batch=1 T=1", 1, 1),
                        Case("batch=2 T=300 left-padded", 2, 300, True)],
        "gpt_decode": [Case("batch=1 past=1", 1, 1), Case("batch=3 past=9 left-padded", 3, 9, True),
                       Case("batch=2 past=600 left-padded", 2, 600, True),
                       Case(f"batch=1 past={limit - 1} (limit)", 1, limit - 1)],
        "code_heads": [Case("batch=1", 1, 1), Case("batch=64", 64, 1)],  # 64 rows: a pooled top-1 worth reading
        "text_head": [Case("batch=1", 1, 1), Case("batch=64", 64, 1)],
        "decoder": [Case("batch=1 T=1", 1, 1), Case("batch=2 T=50", 2, 50), Case("batch=1 T=500", 1, 500)],
        "dvae": [Case("batch=1 T=1", 1, 1), Case("batch=2 T=50", 2, 50), Case("batch=1 T=500", 1, 500)],
        "vocos": [Case(f"batch=1 frames={MIN_MEL_FRAMES} (min)", 1, MIN_MEL_FRAMES), Case("batch=2 frames=100", 2, 100),
                  Case("batch=1 frames=1000", 1, 1000)],
    }[spec.kind]


def example_case(spec: GraphSpec) -> Case:
    """Trace sizes: batch 2, lengths > 1 and a padded mask, so neither the mask nor an axis is specialised."""
    return Case("export", 2, {"vocos": 16, "gpt_decode": 5}.get(spec.kind, 7), padded=True)


def left_padded_mask(batch: int, length: int, padded: bool, rng: np.random.Generator) -> np.ndarray:
    """[B, T] int64: row b starts with a random number of pads (< T) when padded (row 0 never padded)."""
    mask = np.ones((batch, length), np.int64)
    if padded:
        for b in range(1, batch):
            mask[b, : rng.integers(1, max(2, length // 2))] = 0
    return mask


def positions(mask: np.ndarray) -> np.ndarray:
    """ChatTTS's position ids: cumsum(mask) - 1, with 1 at the pads."""
    pos = np.cumsum(mask, -1) - 1
    return np.where(mask == 0, 1, pos).astype(np.int64)


@torch.no_grad()
def make_feed(chat, recipe: ChatTTSRecipe, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
    """Inputs for `spec` at the case's sizes; GPT pasts computed by the reference LlamaModel itself."""
    g, b, n = recipe.gpt, case.batch, case.length
    if spec.kind == "embed_text":
        return {"input_ids": rng.integers(0, g.text_tokens, (b, n))}
    if spec.kind == "embed_code":
        return {"input_ids": rng.integers(0, g.audio_tokens, (b, n, g.num_vq))}
    if spec.kind == "gpt_prefill":
        mask = left_padded_mask(b, n, case.padded, rng)
        return {"inputs_embeds": _text_embeds(chat, rng.integers(0, g.text_tokens, (b, n))),
                "attention_mask": mask, "position_ids": positions(mask)}
    if spec.kind == "gpt_decode":
        return _decode_feed(chat, spec, case, rng)
    if spec.kind in ("code_heads", "text_head"):
        return {"hidden": rng.standard_normal((b, g.hidden)).astype(np.float32)}
    if spec.kind == "decoder":
        return {"hiddens": rng.standard_normal((b, g.hidden, n)).astype(np.float32)}
    if spec.kind == "dvae":
        return {"codes": rng.integers(0, g.audio_tokens - 1, (b, g.num_vq, n))}
    if spec.kind == "vocos":
        return {"mel": rng.standard_normal((b, MEL_BINS, n)).astype(np.float32)}
    raise KeyError(f"no feed maker for ChatTTS graph kind {spec.kind!r}")


def _text_embeds(chat, ids: np.ndarray) -> np.ndarray:
    return chat.embed.emb_text(torch.from_numpy(ids)).numpy()


def _decode_feed(chat, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
    g = chat.gpt.gpt
    prefix_mask = left_padded_mask(case.batch, case.length, case.padded, rng)
    prefix = _text_embeds(chat, rng.integers(0, chat.embed.emb_text.num_embeddings, (case.batch, case.length)))
    out = g(inputs_embeds=torch.from_numpy(prefix), attention_mask=torch.from_numpy(prefix_mask).float(),
            position_ids=torch.from_numpy(positions(prefix_mask)).float(), use_cache=True)
    mask = np.hstack([prefix_mask, np.ones((case.batch, 1), np.int64)])
    codes = torch.from_numpy(rng.integers(0, chat.embed.num_audio_tokens, (case.batch, 1, chat.embed.num_vq)))
    step = torch.stack([table(codes[:, :, q]) for q, table in enumerate(chat.embed.emb_code)], 2).sum(2)
    feed = {"inputs_embeds": step.numpy(), "attention_mask": mask, "position_ids": positions(mask)[:, -1:]}
    feed.update({pair.past: t.numpy() for pair, t in zip(spec.cache, flatten_cache(out.past_key_values))})
    return feed


@torch.no_grad()
def reference_outputs(chat, recipe: ChatTTSRecipe, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """ChatTTS's outputs for `feed`, keyed by the graph's output names."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()}
    kind = spec.kind
    if kind in ("embed_text", "embed_code"):
        ids = t["input_ids"] if kind == "embed_code" else t["input_ids"].unsqueeze(-1).expand(-1, -1, 4)
        outs = [chat.embed(ids, torch.full(ids.shape[:2], kind == "embed_text"))]
    elif kind in ("gpt_prefill", "gpt_decode"):
        past = tuple(t[pair.past].clone() for pair in spec.cache)
        out = chat.gpt.gpt(inputs_embeds=t["inputs_embeds"], attention_mask=t["attention_mask"].float(),
                           position_ids=t["position_ids"].float(), use_cache=True,
                           past_key_values=build_cache(past, chat.gpt.gpt.config))
        outs = [out.last_hidden_state[:, -1].float(), *flatten_cache(out.past_key_values)]
    elif kind == "code_heads":
        outs = [torch.stack([head(t["hidden"]) for head in chat.gpt.head_code], 1)]
    elif kind == "text_head":
        outs = [chat.gpt.head_text(t["hidden"])]
    elif kind in ("decoder", "dvae"):
        module = chat.decoder if kind == "decoder" else chat.dvae
        outs = [module(t["hiddens"] if kind == "decoder" else t["codes"]).clone()]
    elif kind == "vocos":
        outs = [chat.vocos.decode(t["mel"])]
    else:
        raise KeyError(f"no reference for ChatTTS graph kind {kind!r}")
    return {name: o.numpy() for name, o in zip(spec.output_names, outs)}


def perturb(spec: GraphSpec, name: str, feed: dict, rng: np.random.Generator):
    """Masks lose their first position (a valid, different mask); None: the generic rule applies."""
    if name == "attention_mask":
        mask = np.asarray(feed[name]).copy()
        mask[:, 0] = 0
        return mask
    return None
