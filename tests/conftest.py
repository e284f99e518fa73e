"""Shared fixtures: tiny artifacts of bark, chattts and the test-only toy family, exported once per test session."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def _tensorrt_and_gpu() -> str | None:
    """None when a TensorRT builder and a CUDA GPU are usable, else why not."""
    try:
        from ttsx.artifact.engines import RTX_DEFAULT_TARGETS, RTX_RUNS_ON, choose_builder, gpu_identity, runs_on

        gpu = gpu_identity()
        builder, _ = choose_builder(None)
        rtx = {"name": builder.name, "compute_capabilities": list(RTX_DEFAULT_TARGETS), "targets_set_by": "builder default"}
        if builder.name == "tensorrt-rtx" and not runs_on(rtx, gpu):
            return f"only TensorRT for RTX is installed, and its engines run on {RTX_RUNS_ON}, not on {gpu['name']}"
    except Exception as exc:  # TtsxError from either check
        return str(exc)
    return None


def _builder() -> str | None:
    """None when a TensorRT builder is usable (TensorRT for RTX needs no GPU), else why not."""
    try:
        from ttsx.artifact.engines import choose_builder

        choose_builder(None)
    except Exception as exc:
        return str(exc)
    return None


def pytest_collection_modifyitems(config, items):
    """Tests marked `tensorrt` (run engines) or `tensorrt_build` (build them) skip, saying what went unchecked,
    where a builder or a GPU is missing."""
    for marker, check, what in (("tensorrt", _tensorrt_and_gpu, "TensorRT engine build/run"),
                                ("tensorrt_build", _builder, "TensorRT engine build")):
        marked = [item for item in items if marker in item.keywords]
        why = check() if marked else None
        for item in marked if why else []:
            item.add_marker(pytest.mark.skip(reason=f"NOT CHECKED: {what} ({why})"))


def _export(tmp_path_factory, recipe: str, folder: str, **options):
    """`recipe` exported from seeded random weights (seed 0) into a fresh folder."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.source import ModelSource

    out = tmp_path_factory.mktemp("artifacts") / folder
    return export_artifact(ExportOptions(recipe, ModelSource("random", seed=0), out, **options))


def _copy(artifact, tmp_path, name: str):
    """A private copy of `artifact` that a test may damage."""
    shutil.copytree(artifact, tmp_path / name)
    return tmp_path / name


def _quantizer(source, tmp_path_factory, folder: str):
    """make(precision) -> `source` at that precision, made once per test session."""
    from ttsx.app.quantize import quantize_artifact
    from ttsx.exporter.quantize import QuantizeOptions

    made = {}

    def make(precision):
        if precision not in made:
            out = tmp_path_factory.mktemp(folder) / precision
            made[precision] = quantize_artifact(QuantizeOptions(source, precision, out))
        return made[precision]

    return make


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory):
    """A bark-tiny artifact exported from seeded random weights (seed 0)."""
    return _export(tmp_path_factory, "bark-tiny", "bark-tiny")


@pytest.fixture
def tiny_copy(tiny_artifact, tmp_path):
    """A private copy of the tiny artifact that a test may damage."""
    return _copy(tiny_artifact, tmp_path, "copy")


@pytest.fixture(scope="session")
def tiny_reference():
    """The bark-tiny reference BarkModel with the same seed as tiny_artifact."""
    from ttsx.recipes.families.bark.reference import random_reference
    from ttsx.recipes import get_recipe

    return random_reference(get_recipe("bark-tiny"), seed=0)


@pytest.fixture(scope="session")
def quantize(tiny_artifact, tmp_path_factory):
    """quantize(precision) -> the tiny artifact at that precision (made once per test session)."""
    return _quantizer(tiny_artifact, tmp_path_factory, "quantized")


@pytest.fixture(scope="session")
def chattts_artifact(tmp_path_factory):
    """A chattts-tiny artifact exported from seeded random weights (seed 0); skips without the chattts package."""
    from ttsx.base.errors import SourceError
    from ttsx.recipes.families.chattts.reference import import_chattts

    try:
        import_chattts()
    except SourceError as exc:
        pytest.skip(f"NOT CHECKED: ChatTTS family ({exc})")
    return _export(tmp_path_factory, "chattts-tiny", "chattts-tiny")


@pytest.fixture(scope="session")
def chattts_tensorrt_artifact(chattts_artifact, tmp_path_factory):
    """chattts-tiny exported with TensorRT's cache flavour (seed 0); skips without the chattts package."""
    return _export(tmp_path_factory, "chattts-tiny", "chattts-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture(scope="session")
def chattts_reference(chattts_artifact):
    """The chattts-tiny reference Chat with the same seed as chattts_artifact."""
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    return get_family("chattts").load_reference(get_recipe("chattts-tiny"), ModelSource("random", seed=0))


@pytest.fixture(scope="session")
def tiny_tensorrt_artifact(tmp_path_factory):
    """bark-tiny exported with TensorRT's cache flavour (TensorScatter, static capacity); runs on onnxruntime too."""
    return _export(tmp_path_factory, "bark-tiny", "bark-tiny-tensorrt", kv_cache="tensorrt")


# The test-only family (tests/plugin_family/README.md) plugs in as a third-party family would; subprocesses
# (`ttsx serve`, the CLI) find it through the same two variables.
PLUGIN = str(Path(__file__).resolve().parent / "plugin_family")
os.environ["TTSX_FAMILIES"] = ",".join(filter(None, [os.environ.get("TTSX_FAMILIES", ""), "ttsx_toy"]))
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [PLUGIN, os.environ.get("PYTHONPATH", "")]))
sys.path.insert(0, PLUGIN)


@pytest.fixture(scope="session")
def toy_artifact(tmp_path_factory):
    """A toy-tiny artifact (the test-only family) exported from seeded random weights (seed 0)."""
    return _export(tmp_path_factory, "toy-tiny", "toy-tiny")


@pytest.fixture(scope="session")
def toy_tensorrt_artifact(tmp_path_factory):
    """toy-tiny exported with TensorRT's cache flavour (seed 0)."""
    return _export(tmp_path_factory, "toy-tiny", "toy-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture
def toy_copy(toy_artifact, tmp_path):
    """A private copy of the toy artifact that a test may damage."""
    return _copy(toy_artifact, tmp_path, "toy-copy")


@pytest.fixture(scope="session")
def toy_quantize(toy_artifact, tmp_path_factory):
    """toy_quantize(precision) -> the toy artifact at that precision (made once per test session)."""
    return _quantizer(toy_artifact, tmp_path_factory, "toy-quantized")


GPT_SOVITS_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "third_party" / "GPT-SoVITS"


@pytest.fixture(scope="session")
def gpt_sovits_home():
    """GPT_SOVITS_HOME for the session: the user's, else ../shared's unchanged upstream subset; skips without one."""
    import os

    home = os.environ.get("GPT_SOVITS_HOME") or (str(GPT_SOVITS_SHARED) if GPT_SOVITS_SHARED.is_dir() else None)
    if not home:
        pytest.skip(f"NOT CHECKED: GPT-SoVITS family (no GPT_SOVITS_HOME and no {GPT_SOVITS_SHARED})")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPT_SOVITS_HOME", home)
        yield Path(home)


@pytest.fixture(scope="session")
def gpt_sovits_artifact(gpt_sovits_home, tmp_path_factory):
    """A gpt-sovits-tiny artifact exported from seeded random weights (seed 0)."""
    return _export(tmp_path_factory, "gpt-sovits-tiny", "gpt-sovits-tiny")


@pytest.fixture(scope="session")
def gpt_sovits_reference(gpt_sovits_home):
    """The gpt-sovits-tiny reference (upstream's t2s and SoVITS models) with the same seed as gpt_sovits_artifact."""
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    return get_family("gpt_sovits").load_reference(get_recipe("gpt-sovits-tiny"), ModelSource("random", seed=0))


@pytest.fixture(scope="session")
def gpt_sovits_tensorrt_artifact(gpt_sovits_home, tmp_path_factory):
    """gpt-sovits-tiny exported with TensorRT's cache flavour (seed 0)."""
    return _export(tmp_path_factory, "gpt-sovits-tiny", "gpt-sovits-tiny-tensorrt", kv_cache="tensorrt")


def _parler():
    """parler_tts importable (patched), else skip saying why."""
    from ttsx.base.errors import SourceError
    from ttsx.recipes.families.parler.reference import import_parler

    try:
        import_parler()
    except SourceError as exc:
        pytest.skip(f"NOT CHECKED: Parler-TTS family ({exc})")


@pytest.fixture(scope="session")
def parler_artifact(tmp_path_factory):
    """A parler-tts-tiny artifact exported from seeded random weights (seed 0); skips without parler_tts."""
    _parler()
    return _export(tmp_path_factory, "parler-tts-tiny", "parler-tts-tiny")


@pytest.fixture(scope="session")
def parler_reference(parler_artifact):
    """The parler-tts-tiny reference (ParlerTTSForConditionalGeneration) with the same seed as parler_artifact."""
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    return get_family("parler").load_reference(get_recipe("parler-tts-tiny"), ModelSource("random", seed=0))


@pytest.fixture(scope="session")
def parler_tensorrt_artifact(parler_artifact, tmp_path_factory):
    """parler-tts-tiny exported with TensorRT's cache flavour (seed 0)."""
    return _export(tmp_path_factory, "parler-tts-tiny", "parler-tts-tiny-tensorrt", kv_cache="tensorrt")


@pytest.fixture(scope="session")
def parler_snapshot(parler_artifact, tmp_path_factory):
    """A save_pretrained snapshot of parler-tts-tiny (seed 3) that ends: its heads' EOS rows scaled (codebook 0's
    by 1.5, the others' by 12) so greedy codebook 0 emits EOS after ~25 steps and the others follow one by one
    (random weights rarely end), with a word-level T5-style tokenizer."""
    folder = tmp_path_factory.mktemp("parler-snapshot") / "snapshot"
    save_parler_snapshot(folder, seed=3, eos_scales=(1.5, 12.0))
    return folder


@pytest.fixture(scope="session")
def parler_snapshot_artifact(parler_snapshot, tmp_path_factory):
    """parler_snapshot exported with `--model DIR`."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.source import ModelSource

    out = tmp_path_factory.mktemp("artifacts") / "parler-snapshot"
    return export_artifact(ExportOptions("parler-tts-tiny", ModelSource("checkpoint", location=str(parler_snapshot)),
                                         out))


@pytest.fixture(scope="session")
def parler_snapshot_reference(parler_snapshot):
    """The reference loaded from parler_snapshot."""
    from ttsx.recipes import get_family, get_recipe
    from ttsx.recipes.source import ModelSource

    return get_family("parler").load_reference(get_recipe("parler-tts-tiny"),
                                               ModelSource("checkpoint", location=str(parler_snapshot)))


PARLER_WORDS = ("hello world good morning evening everyone how are you today the quick brown fox jumps over lazy dog "
                "a female male speaker voice calm deep fast slow clear recording quality with very high low pitch "
                "and is of in to it this that we they she he reads speaks").split()


def parler_tokenizer(vocab: int):
    """A word-level T5-style fast tokenizer (<pad> 0, </s> 1, <unk> 2, EOS appended) within `vocab` ids."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in PARLER_WORDS + list(".,!?'"):
        words.setdefault(word, len(words))
    assert len(words) <= vocab
    tok = Tokenizer(models.WordLevel(words, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def save_parler_snapshot(folder, seed: int, eos_scales: tuple[float, float] = (1.0, 1.0)):
    """parler-tts-tiny's random weights (`seed`), the EOS rows of codebook 0's head and of the others' scaled by
    `eos_scales`, saved with save_pretrained and a tokenizer: what `--model DIR` reads."""
    import torch

    from ttsx.recipes import get_recipe
    from ttsx.recipes.families.parler.reference import build

    recipe = get_recipe("parler-tts-tiny")
    model = build(recipe, seed)
    with torch.no_grad():
        for k, head in enumerate(model.decoder.lm_heads):
            head.weight[recipe.decoder.eos] *= eos_scales[0] if k == 0 else eos_scales[1]
    model.save_pretrained(folder)
    parler_tokenizer(recipe.t5.vocab).save_pretrained(folder)
    return model
