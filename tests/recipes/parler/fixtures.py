"""Parler-TTS's session fixtures (found by tests/conftest.py); each skips, saying why, without parler_tts."""
import pytest

from ttsx_test_support import export_checkpoint, export_random, load_beside, quantizer, reference

save_parler_snapshot = load_beside(__file__, "snapshot").save_parler_snapshot

TENSORRT_ARTIFACTS = {"parler-tts-tiny": "parler_tensorrt_artifact"}


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
    return export_random(tmp_path_factory, "parler-tts-tiny", "parler-tts-tiny")


@pytest.fixture(scope="session")
def parler_reference(parler_artifact):
    """The parler-tts-tiny reference (ParlerTTSForConditionalGeneration) with the same seed as parler_artifact."""
    return reference("parler-tts-tiny")


@pytest.fixture(scope="session")
def parler_tensorrt_artifact(parler_artifact, tmp_path_factory):
    """parler-tts-tiny exported with TensorRT's cache flavour (seed 0)."""
    return export_random(tmp_path_factory, "parler-tts-tiny", "parler-tts-tiny-tensorrt", kv_cache="tensorrt")


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
    return export_checkpoint(tmp_path_factory, "parler-tts-tiny", parler_snapshot, "parler-snapshot")


@pytest.fixture(scope="session")
def parler_snapshot_reference(parler_snapshot):
    """The reference loaded from parler_snapshot."""
    from ttsx.recipes.source import ModelSource

    return reference("parler-tts-tiny", ModelSource("checkpoint", location=str(parler_snapshot)))


@pytest.fixture(scope="session")
def parler_quantized(parler_artifact, tmp_path_factory):
    """parler_quantized(precision) -> parler-tts-tiny at that precision, made once."""
    return quantizer(parler_artifact, tmp_path_factory, "parler-quantized")
