"""ChatTTS's PyTorch reference (a `ChatTTS.Chat`): seeded random weights or a local snapshot.

The reference is ChatTTS's own object and modules (chattts 0.2.5: `GPT`, `Embed`, `DVAE`, `Speaker`,
`Tokenizer`, `vocos.Vocos`), built the way `Chat._load` builds them (kinds.py calls them the way `Chat.infer` does).
"""
from __future__ import annotations

import copy

import logging
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ttsx.base.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers


from .recipe import ChatTTSRecipe
from .tokenizer import write_stand_in_tokenizer

INSTALL = ("pip install 'ttsx[chattts]' && pip install --no-deps chattts==0.2.5 vocos==0.1.0 encodec==0.1.1 "
           "(ChatTTS is AGPL-3.0 code, imported, never shipped by ttsx; --no-deps keeps out the registry's "
           "torchaudio, a CUDA build that breaks transformers beside the CPU torch)")
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
    """The ChatTTS package, importable on a machine without a working torchaudio (ttsx.base.torchaudio_guard)."""
    from ttsx.base import torchaudio_guard

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

    # Config's fields default to shared instances (gpt: GPT = GPT()): a copy, or every later Config() of the
    # process would have this recipe's sizes
    g, config = recipe.gpt, copy.deepcopy(Config())
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
    for module in weight_modules(chat).values():
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
    if source.origin == "random":
        return random_reference(recipe, source.seed)
    return checkpoint_reference(recipe, source)


def weight_modules(chat) -> dict:
    """The torch modules holding the reference's weights, by name."""
    return {"gpt": chat.gpt.gpt, "embed": chat.embed, "decoder": chat.decoder, "dvae": chat.dvae, "vocos": chat.vocos}
