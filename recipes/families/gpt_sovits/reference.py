"""GPT-SoVITS's PyTorch reference, built from the user's upstream checkout: seeded random weights or a checkpoint pair.

Upstream RVC-Boss/GPT-SoVITS (MIT) is a git repository, not a package: `GPT_SOVITS_HOME` names the
checkout (its root, holding `GPT_SoVITS/`), whose model code is imported as upstream imports it (`AR`,
`module`, `text` from `GPT_SoVITS/`). ttsx ships none of it. Two imports of that code are not needed for
v2 inference and get stand-ins when they are not installed: `torchmetrics`'s MulticlassAccuracy (a
training metric the t2s constructor builds) and `f5_tts.model.DiT` (v3/v4 only).

The reference is a `Reference` of upstream's own `Text2SemanticDecoder` and `SynthesizerTrn` (module/models.py),
called the way `infer_panel_naive` and `SynthesizerTrn.decode` call them (kinds.py, baseline.py).
"""
from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import torch

from ttsx.base.errors import SourceError
from ttsx.recipes.source import ModelSource, fill_degenerate_buffers

from .recipe import GptSovitsRecipe

HOME_VARIABLE = "GPT_SOVITS_HOME"
HOW_TO_GET = (f"GPT-SoVITS is not a package: clone https://github.com/RVC-Boss/GPT-SoVITS and set {HOME_VARIABLE} "
              "to the clone (the folder holding GPT_SoVITS/). Its checkpoints are a pair: the GPT's .ckpt and "
              "SoVITS's .pth; pass --model DIR of a folder holding one of each, or --random-weights.")
NEEDS = "einops, pyyaml, tqdm and packaging (pip install 'ttsx[gpt-sovits]')"


def upstream_home() -> Path:
    """The GPT_SoVITS/ folder of the user's checkout, or a SourceError saying how to point at one."""
    home = os.environ.get(HOME_VARIABLE)
    if not home:
        raise SourceError(f"the GPT-SoVITS family needs upstream's code and {HOME_VARIABLE} is not set. {HOW_TO_GET}")
    root = Path(home).expanduser()
    code = root / "GPT_SoVITS" if (root / "GPT_SoVITS").is_dir() else root
    if not (code / "AR" / "models" / "t2s_model.py").is_file() or not (code / "module" / "models.py").is_file():
        raise SourceError(f"{HOME_VARIABLE}={home} holds no GPT-SoVITS checkout (no GPT_SoVITS/AR/models/t2s_model.py "
                          f"or GPT_SoVITS/module/models.py). {HOW_TO_GET}")
    return code


def import_upstream():
    """Upstream's model modules (t2s_model, models, models_onnx, symbols2), imported from the checkout."""
    code = str(upstream_home())
    if code not in sys.path:
        sys.path.insert(0, code)
    _stand_ins()
    try:
        from AR.models import t2s_model
        from module import models, models_onnx
        from text import symbols2
    except ImportError as exc:
        raise SourceError(f"GPT-SoVITS's model code at {code} can't be imported ({exc}); it needs {NEEDS}") from None
    return types.SimpleNamespace(t2s_model=t2s_model, models=models, models_onnx=models_onnx, symbols2=symbols2)


def _stand_ins() -> None:
    """Stand-ins for the two imports v2 inference never uses, when they are not installed."""
    try:
        import torchmetrics.classification  # noqa: F401
    except ImportError:
        metrics = types.ModuleType("torchmetrics")
        classification = types.ModuleType("torchmetrics.classification")

        class MulticlassAccuracy(torch.nn.Module):  # the t2s training metric; never called at inference
            def __init__(self, *args, **kwargs):
                super().__init__()

        classification.MulticlassAccuracy = MulticlassAccuracy
        metrics.classification = classification
        sys.modules.setdefault("torchmetrics", metrics)
        sys.modules.setdefault("torchmetrics.classification", classification)
    try:
        import f5_tts.model  # noqa: F401
    except ImportError:
        f5 = types.ModuleType("f5_tts")
        model = types.ModuleType("f5_tts.model")

        class DiT(torch.nn.Module):  # v3/v4's flow-matching decoder; v2 never builds it
            def __init__(self, *args, **kwargs):
                raise SourceError("f5_tts's DiT is v3/v4 only; ttsx's GPT-SoVITS recipes are v2")

        model.DiT = DiT
        f5.model = model
        sys.modules.setdefault("f5_tts", f5)
        sys.modules.setdefault("f5_tts.model", model)


@dataclass
class Reference:
    """Upstream's models, in eval mode: t2s (Text2SemanticDecoder), vits (SynthesizerTrn), the clip's cnhubert
    (transformers' HubertModel) and, for v2Pro/ProPlus, the speaker-verification model (ERes2NetV2)."""

    t2s: torch.nn.Module
    vits: torch.nn.Module
    upstream: types.SimpleNamespace
    hubert: torch.nn.Module | None = None
    sv: torch.nn.Module | None = None

    def modules(self) -> dict:
        """The modules whose weights make the fingerprint."""
        found = {"t2s": self.t2s, "vits": self.vits, "hubert": self.hubert, "sv": self.sv}
        return {name: module for name, module in found.items() if module is not None}


def build(recipe: GptSovitsRecipe, seed: int = 0, hubert: bool = True) -> Reference:
    """Upstream's models at the recipe's sizes with seeded random weights that all matter.

    Upstream's TransformerEncoder deep-copies one layer (every t2s layer starts identical) and the VITS
    flow's last convolutions, the quantizer's codebook and some projections start at zero: each t2s layer is
    redrawn, and every all-zero parameter or buffer gets random values, so outputs depend on their inputs.
    `hubert`: draw the clip's cnhubert too (a checkpoint's comes from the checkout instead).
    """
    up = import_upstream()
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    t2s = up.t2s_model.Text2SemanticDecoder(recipe.t2s.config(), norm_first=False, top_k=3)
    for layer in t2s.h.layers:  # in place: upstream's T2SBlocks hold these very tensors
        _redraw(layer, generator)
    for table in (t2s.ar_text_position, t2s.ar_audio_position):  # learned alphas (1 at init)
        with torch.no_grad():
            table.alpha.copy_(0.5 + torch.rand(1, generator=generator))
    vits = up.models.SynthesizerTrn(**recipe.vits.kwargs())
    fill_degenerate_buffers(vits, generator)
    _fill_zero_parameters(vits, generator)
    with torch.no_grad():  # a trained codebook is `inited` (else extract_latent re-initialises it by k-means)
        for name, buffer in vits.named_buffers():
            if name.endswith("._codebook.inited"):
                buffer.fill_(True)
    sv = random_sv(recipe, seed) if recipe.vits.is_pro else None
    return Reference(t2s.eval(), vits.eval(), up, random_hubert(recipe, seed) if hubert else None, sv)


def random_hubert(recipe: GptSovitsRecipe, seed: int) -> torch.nn.Module:
    """transformers' HubertModel at the recipe's cnhubert size, seeded."""
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed + 1)
    return HubertModel(HubertConfig(**recipe.clip.hubert_config())).eval()


def random_sv(recipe: GptSovitsRecipe, seed: int) -> torch.nn.Module:
    """upstream's ERes2NetV2 at the recipe's size, seeded, with batch-norm statistics that are not the identity."""
    eres2net = import_eres2net()
    torch.manual_seed(seed + 2)
    model = eres2net.ERes2NetV2(**recipe.clip.sv_kwargs())
    generator = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)) and module.running_mean is not None:
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.running_var.shape, generator=generator))
    return model.eval()


def import_eres2net():
    """upstream's eres2net/ERes2NetV2.py (sv.py imports it with that folder on sys.path, as done here)."""
    folder = str(upstream_home() / "eres2net")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        import ERes2NetV2
    except ImportError as exc:
        raise SourceError(f"v2Pro's speaker-verification model can't be imported from {folder} ({exc}); it is "
                          "upstream's GPT_SoVITS/eres2net, in checkouts since v2Pro") from None
    return ERes2NetV2


def _redraw(module: torch.nn.Module, generator: torch.Generator) -> None:
    """Fresh values for one transformer layer: weights ~ N(0, 1/fan_in), biases small, norms near 1."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=generator))
            elif p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=generator) / p.shape[1] ** 0.5)
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=generator))


def _fill_zero_parameters(module: torch.nn.Module, generator: torch.Generator, std: float = 0.05) -> list[str]:
    """Small random values for every all-zero floating parameter (upstream zero-inits its flows' last layers)."""
    filled = []
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.is_floating_point() and p.numel() > 1 and not p.any():
                p.copy_(std * torch.randn(p.shape, generator=generator))
                filled.append(name)
    return filled


def load_reference(recipe: GptSovitsRecipe, source: ModelSource) -> Reference:
    """Random weights (seeded) or a checkpoint pair: DIR holding one GPT .ckpt and one SoVITS .pth."""
    if source.origin == "random":
        return build(recipe, source.seed)
    if source.directory is None or not source.directory.is_dir():
        raise SourceError(f"--model {source.location}: a folder is needed. {HOW_TO_GET}")
    return load_pair(recipe, source.directory)


def checkpoint_pair(directory: Path) -> tuple[Path, Path]:
    """The one .ckpt and one .pth in `directory`, or a SourceError naming what is there."""
    ckpts, pths = sorted(directory.glob("*.ckpt")), sorted(directory.glob("*.pth"))
    if len(ckpts) != 1 or len(pths) != 1:
        raise SourceError(f"{directory} must hold exactly one GPT checkpoint (*.ckpt) and one SoVITS checkpoint "
                          f"(*.pth); it holds {len(ckpts)} .ckpt and {len(pths)} .pth. {HOW_TO_GET}")
    return ckpts[0], pths[0]


def load_pair(recipe: GptSovitsRecipe, directory: Path) -> Reference:
    """Upstream's models with the weights of a checkpoint pair, checked against the recipe's sizes."""
    from .checkpoints import check_version, read

    gpt_path, sovits_path = checkpoint_pair(directory)
    gpt, sovits = read(gpt_path), read(sovits_path)
    check_version(sovits, recipe.name, recipe.vits.version)
    reference = build(recipe, 0, hubert=False)  # the checkout's cnhubert replaces a random one: none is drawn
    state = {k.removeprefix("model."): v for k, v in gpt.weight.items()}
    _strict(reference.t2s, state, gpt_path)
    _strict(reference.vits, sovits.weight, sovits_path, optional=("enc_q.",))
    reference.hubert = pretrained_hubert()
    if recipe.vits.is_pro:
        sv_path = upstream_home() / SV_WEIGHTS
        _strict(reference.sv, _pretrained_sv(sv_path), sv_path)
    return reference


PRETRAINED = "pretrained_models"  # upstream's folder of downloaded models, in GPT_SoVITS/
HUBERT = f"{PRETRAINED}/chinese-hubert-base"  # inference_webui's cnhubert_base_path
SV_WEIGHTS = f"{PRETRAINED}/sv/pretrained_eres2netv2w24s4ep4.ckpt"  # sv.py's sv_path
GET_PRETRAINED = ("upstream's README says how to get them: download GPT_SoVITS/pretrained_models from "
                  "https://huggingface.co/lj1995/GPT-SoVITS into the checkout")


def pretrained_hubert() -> torch.nn.Module:
    """The checkout's cnhubert (chinese-hubert-base, a save_pretrained folder), as cnhubert.CNHubert loads it."""
    from transformers import HubertModel

    folder = upstream_home() / HUBERT
    if not (folder / "config.json").is_file():
        raise SourceError(f"a GPT-SoVITS voice is made from a clip with cnhubert, and {folder} holds none (no "
                          f"config.json); {GET_PRETRAINED}")
    model = HubertModel.from_pretrained(str(folder), local_files_only=True)
    if model.config.hidden_size != 768:
        raise SourceError(f"{folder} is a HubertModel of width {model.config.hidden_size}; SoVITS's ssl_proj reads 768")
    return model.eval()


def _pretrained_sv(path: Path) -> dict:
    """The sv model's state dict (a plain one: read weights-only)."""
    if not path.is_file():
        raise SourceError(f"v2Pro and v2ProPlus need the speaker-verification model {path}; {GET_PRETRAINED}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SourceError(f"{path} can't be read as ERes2NetV2 weights ({str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict):
        raise SourceError(f"{path} holds {type(state).__name__}, not ERes2NetV2's state dict")
    return state


def _strict(module: torch.nn.Module, state: dict, path: Path, optional: tuple[str, ...] = ()) -> None:
    """Load `state` in place; every weight the module uses must be there with the recipe's shape."""
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.startswith(optional)]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        raise SourceError(f"{path} does not match this recipe's sizes: missing {missing[:3]}, other shapes {wrong[:3]}; "
                          "choose the recipe of the checkpoint's size (gpt-sovits-v2, -v2pro or -v2proplus for "
                          "upstream's weights; the -tiny recipes are for tests)")
    module.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
