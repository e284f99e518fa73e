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

from ttsx.exporter.cache_rows import lengths_feed, pack, row_lengths
from ttsx.runtimes.causal import capacity_for

from .graphs import build_cache, flatten_cache
from .recipe import MEL_BINS, MIN_MEL_FRAMES, ChatTTSRecipe
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
    length: int  # tokens (the longest row), decode past, or mel frames
    ragged: bool = False  # GPT: rows of different lengths (prefill) or pasts (decode)
    decode: bool = False  # GPT: one new token per row after `length` cached positions


def parity_cases(recipe: ChatTTSRecipe, spec: GraphSpec) -> list[Case]:
    """Batch 1 and > 1, ragged rows, pasts up to the cache's capacity, short and long audio."""
    limit = recipe.kv_capacity - 1
    return {
        "embed_text": [Case("batch=1 T=7", 1, 7), Case("batch=3 T=40", 3, 40)],
        "embed_code": [Case("batch=1 T=1", 1, 1), Case("batch=3 T=40", 3, 40)],
        "gpt": [Case("prefill batch=3 T=37,28,19 (ragged)", 3, 37, ragged=True), Case("prefill batch=1 T=1", 1, 1),
                Case("prefill batch=2 T=300,150 (ragged)", 2, 300, ragged=True),
                Case("decode batch=1 past=1", 1, 1, decode=True),
                Case("decode batch=3 pasts=9,7,5 (ragged)", 3, 9, ragged=True, decode=True),
                Case("decode batch=2 pasts=600,300 (ragged)", 2, 600, ragged=True, decode=True),
                Case(f"decode batch=1 past={limit} (limit)", 1, limit, decode=True)],
        "code_heads": [Case("batch=1", 1, 1), Case("batch=64", 64, 1)],  # 64 rows: a pooled top-1 worth reading
        "text_head": [Case("batch=1", 1, 1), Case("batch=64", 64, 1)],
        "decoder": [Case("batch=1 T=1", 1, 1), Case("batch=2 T=50", 2, 50), Case("batch=1 T=500", 1, 500)],
        "dvae": [Case("batch=1 T=1", 1, 1), Case("batch=2 T=50", 2, 50), Case("batch=1 T=500", 1, 500)],
        "vocos": [Case(f"batch=1 frames={MIN_MEL_FRAMES} (min)", 1, MIN_MEL_FRAMES), Case("batch=2 frames=100", 2, 100),
                  Case("batch=1 frames=1000", 1, 1000)],
    }[spec.kind]


def example_case(spec: GraphSpec) -> Case:
    """Trace sizes: batch 2, lengths > 1, ragged rows, so no axis is specialised."""
    return Case("export", 2, {"vocos": 16}.get(spec.kind, 7), ragged=True)


@torch.no_grad()
def make_feed(chat, recipe: ChatTTSRecipe, spec: GraphSpec, case: Case, rng: np.random.Generator) -> dict:
    """Inputs for `spec` at the case's sizes; GPT pasts computed by the reference LlamaModel itself."""
    g, b, n = recipe.gpt, case.batch, case.length
    if spec.kind == "embed_text":
        return {"input_ids": rng.integers(0, g.text_tokens, (b, n))}
    if spec.kind == "embed_code":
        return {"input_ids": rng.integers(0, g.audio_tokens, (b, n, g.num_vq))}
    if spec.kind == "gpt":
        return _gpt_feed(chat, spec, case, rng)
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


def _llama(chat, embeds: np.ndarray, past: tuple, cached: int):
    """One row through ChatTTS's LlamaModel as Chat.infer calls it (float mask and positions, a DynamicCache)."""
    g, n = chat.gpt.gpt, embeds.shape[1]
    positions = torch.arange(cached, cached + n, dtype=torch.float32)[None]
    return g(inputs_embeds=torch.from_numpy(np.ascontiguousarray(embeds)), use_cache=True,
             attention_mask=torch.ones(1, cached + n), position_ids=positions,
             past_key_values=build_cache(past, g.config))


def _gpt_feed(chat, spec: GraphSpec, case: Case, rng) -> dict:
    b, vocab = case.batch, chat.embed.emb_text.num_embeddings
    if case.decode:
        pasts, new = row_lengths(b, case.length, case.ragged), [1] * b
        rows = [flatten_cache(_llama(chat, _text_embeds(chat, rng.integers(0, vocab, (1, p))), (), 0).past_key_values)
                for p in pasts]
        codes = torch.from_numpy(rng.integers(0, chat.embed.num_audio_tokens, (b, 1, chat.embed.num_vq)))
        embeds = torch.stack([table(codes[:, :, q]) for q, table in enumerate(chat.embed.emb_code)], 2).sum(2).numpy()
    else:
        pasts, rows, new = [0] * b, [], row_lengths(b, case.length, case.ragged)
        embeds = _text_embeds(chat, rng.integers(0, vocab, (b, max(new))))
    capacity = capacity_for(spec, max(p + n for p, n in zip(pasts, new)))
    feed = {"inputs_embeds": embeds}
    for i, pair in enumerate(spec.cache):  # garbage past each row's valid prefix: the graph must not read it
        if rows:
            feed[pair.past] = pack([row[i][0] for row in rows], capacity, "random", rng)
        else:
            shape = next(t for t in spec.inputs if t.name == pair.past).shape
            feed[pair.past] = rng.standard_normal((b, shape[1], capacity, shape[3])).astype(np.float32)
    return {**feed, **lengths_feed(spec, pasts, new)}


@torch.no_grad()
def reference_outputs(chat, recipe: ChatTTSRecipe, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """ChatTTS's outputs for `feed`, keyed by the graph's output names."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in feed.items()}
    kind = spec.kind
    if kind == "gpt":
        return _gpt_reference(chat, spec, feed)
    if kind in ("embed_text", "embed_code"):
        ids = t["input_ids"] if kind == "embed_code" else t["input_ids"].unsqueeze(-1).expand(-1, -1, 4)
        outs = [chat.embed(ids, torch.full(ids.shape[:2], kind == "embed_text"))]
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


def _gpt_reference(chat, spec: GraphSpec, feed: dict) -> dict[str, np.ndarray]:
    """Each row alone (its own past, its real tokens); caches NaN past each row's end."""
    cached, new = feed[spec.lengths.cached], feed[spec.lengths.new]
    hiddens, presents = [], []
    for b in range(len(cached)):
        p, n = int(cached[b]), int(new[b])
        past = tuple(torch.from_numpy(feed[pair.past][b: b + 1, :, :p].copy()) for pair in spec.cache) if p else ()
        out = _llama(chat, feed["inputs_embeds"][b: b + 1, :n], past, p)
        hiddens.append(out.last_hidden_state[0, -1].float().numpy())
        presents.append([t[0] for t in flatten_cache(out.past_key_values)])
    capacity = feed[spec.cache[0].past].shape[2]
    result = {"hidden": np.stack(hiddens)}
    for i, pair in enumerate(spec.cache):
        result[pair.present] = pack([row[i] for row in presents], capacity, "nan")
    return result


