"""GPT-SoVITS fixtures: a user's checkout (a copy of ../shared's, with the pretrained models its web UI downloads:
cnhubert as `save_pretrained` writes it, the sv model's state dict, both seeded at the tiny recipes' sizes) and
upstream's own save code (process_ckpt, utils.HParams), imported from it."""
import shutil
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import ttsx
from ttsx.recipes import get_family, get_recipe

TINY = "gpt-sovits-v2pro-tiny"  # its clip sizes are every tiny recipe's
VERSIONS = {"gpt-sovits-tiny": None, "gpt-sovits-v2pro-tiny": "v2Pro", "gpt-sovits-v2proplus-tiny": "v2ProPlus"}


@pytest.fixture(scope="session")
def gpt_sovits_checkout(gpt_sovits_home, tmp_path_factory):
    """A checkout with GPT_SoVITS/pretrained_models/{chinese-hubert-base, sv/...ckpt}; GPT_SOVITS_HOME names it."""
    from transformers import Wav2Vec2FeatureExtractor

    from ttsx.recipes import get_recipe
    from ttsx.recipes.families.gpt_sovits import reference

    home = tmp_path_factory.mktemp("checkout") / "GPT-SoVITS"
    shutil.copytree(gpt_sovits_home, home)
    code = home / "GPT_SoVITS"
    code.chmod(0o755)
    recipe = get_recipe(TINY)
    hubert = code / reference.HUBERT
    reference.random_hubert(recipe, seed=11).save_pretrained(hubert)
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=False).save_pretrained(hubert)
    sv = code / reference.SV_WEIGHTS
    sv.parent.mkdir(parents=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPT_SOVITS_HOME", str(home))
        torch.save(reference.random_sv(recipe, seed=12).state_dict(), sv)
        yield home


@pytest.fixture(scope="session")
def upstream_save(gpt_sovits_checkout):
    """upstream's process_ckpt and utils, imported from the checkout with stand-ins for what saving never uses
    (tools.i18n, the web UI's translations; librosa only where it is not installed)."""
    from ttsx.recipes.families.gpt_sovits.reference import import_upstream

    import_upstream()
    stand_ins = {"tools": types.ModuleType("tools"), "tools.i18n": types.ModuleType("tools.i18n"),
                 "tools.i18n.i18n": types.ModuleType("tools.i18n.i18n")}
    stand_ins["tools.i18n.i18n"].I18nAuto = lambda: (lambda text: text)
    try:
        import librosa  # noqa: F401
    except ImportError:
        stand_ins["librosa"] = types.ModuleType("librosa")
    with pytest.MonkeyPatch.context() as patch:  # only while they import: transformers looks librosa up later
        for name, module in stand_ins.items():
            if name not in sys.modules:
                patch.setitem(sys.modules, name, module)
        import process_ckpt
        import utils
    return types.SimpleNamespace(process_ckpt=process_ckpt, HParams=utils.HParams)


def hparams(up, recipe, out_dir: Path):
    """The training config savee pickles: utils.HParams of s2.json's shape at the recipe's sizes."""
    model = recipe.vits.kwargs()
    for key in ("spec_channels", "segment_size", "n_speakers"):
        model.pop(key)
    return up.HParams(train={"segment_size": 20480, "fp16_run": True}, model=model, save_weight_dir=str(out_dir),
                      data={"filter_length": 2048, "hop_length": 640, "sampling_rate": 32000, "n_speakers": 300})


def write_pair(up, name: str, out_dir: Path, seed: int = 3) -> Path:
    """A pair as upstream's training writes it: s2_train's savee (my_save, or my_save2 for v2Pro/ProPlus) and
    s1_train's epoch callback (fp16 'model.*' weights, its yaml config dict) through my_save."""
    recipe = get_recipe(name)
    source = get_family("gpt_sovits").load_reference(recipe, ttsx.recipes.source.ModelSource("random", seed=seed))
    out_dir.mkdir()
    done = up.process_ckpt.savee(source.vits.state_dict(), "voice_e8_s96", 8, 96, hparams(up, recipe, out_dir),
                                 model_version=VERSIONS[name])
    assert done == "Success.", done
    gpt = OrderedDict(weight=OrderedDict((f"model.{k}", v.half()) for k, v in source.t2s.state_dict().items()),
                      config=recipe.t2s.config(), info="GPT-e15")
    up.process_ckpt.my_save(gpt, str(out_dir / "voice-e15.ckpt"))
    return out_dir


def upstream_version(up, path: Path, weight: dict) -> str:
    """The version upstream's change_sovits_weights settles on: get_sovits_version_from_path_fast's (hash, code,
    else file size), then, unless it says Pro, the weights' (322 phoneme symbols: v1, else v2)."""
    _, model_version, _ = up.process_ckpt.get_sovits_version_from_path_fast(str(path))
    if "Pro" in model_version:
        return model_version
    return "v1" if weight["enc_p.text_embedding.weight"].shape[0] == 322 else "v2"


def upstream_models(up, folder: Path):
    """upstream's own load of the pair (as inference_webui's change_sovits_weights / change_gpt_weights do)."""
    from ttsx.recipes.families.gpt_sovits.reference import import_upstream

    ns = import_upstream()
    sovits_path, gpt_path = next(folder.glob("*.pth")), next(folder.glob("*.ckpt"))
    s2 = up.process_ckpt.load_sovits_new(str(sovits_path))  # upstream's weights_only=False, on the test's own file
    hps, model_version = s2["config"], upstream_version(up, sovits_path, s2["weight"])
    if "Pro" in model_version:
        hps.model.version = model_version
    vits = ns.models.SynthesizerTrn(hps.data.filter_length // 2 + 1, hps.train.segment_size // hps.data.hop_length,
                                    n_speakers=hps.data.n_speakers, **dict(hps.model.items()))
    del vits.enc_q
    vits.load_state_dict(s2["weight"], strict=False)
    s1 = torch.load(gpt_path, map_location="cpu", weights_only=False)
    t2s = ns.t2s_model.Text2SemanticDecoder(s1["config"], norm_first=False, top_k=3)
    t2s.load_state_dict({k.removeprefix("model."): v for k, v in s1["weight"].items()})
    return t2s.eval(), vits.eval(), model_version


@pytest.fixture(scope="session")
def pairs(upstream_save, gpt_sovits_checkout, tmp_path_factory):
    """name -> a folder holding that recipe's training-written pair (cwd is the folder: my_save writes there)."""
    root = tmp_path_factory.mktemp("pairs")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return {name: write_pair(upstream_save, name, root / name) for name in VERSIONS}
