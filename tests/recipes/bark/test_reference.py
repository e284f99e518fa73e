import json

import numpy as np
import pytest

from ttsx.base.errors import SourceError
from ttsx.exporter.export import ExportOptions, export_artifact
from ttsx.recipes import get_family
from ttsx.recipes.families.bark.reference import checkpoint_reference, random_reference
from ttsx.recipes.source import ModelSource
from ttsx.checks.parity import run_parity
from ttsx.recipes import get_recipe

TINY = get_recipe("bark-tiny")


def test_random_weights_are_reproducible_and_seeded():
    a, b, c = (get_family("bark").fingerprint(random_reference(TINY, s)) for s in (0, 0, 1))
    assert a == b != c


def test_missing_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(SourceError, match="save_pretrained"):
        checkpoint_reference(TINY, ModelSource("checkpoint", str(tmp_path / "nope")))


def test_source_flags_are_exclusive():
    with pytest.raises(SourceError, match="not both"):
        ModelSource.parse("some/dir", True, 0)
    with pytest.raises(SourceError, match="--random-weights"):
        ModelSource.parse(None, False, 0)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A save_pretrained bark-tiny snapshot with a tokenizer and one voice preset, like suno/bark-small's."""
    from transformers import BertTokenizer, GenerationConfig

    root = tmp_path_factory.mktemp("ckpt") / "bark-tiny"
    model = random_reference(TINY, seed=7)
    model.generation_config = GenerationConfig()  # BarkGenerationConfig can't validate itself on save
    model.save_pretrained(root)
    vocab = root / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]) + "\n")
    BertTokenizer(str(vocab)).save_pretrained(root)
    voice_dir = root / "speaker_embeddings" / "v2"
    voice_dir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    prompts = {"semantic_prompt": rng.integers(0, 10_000, 40), "coarse_prompt": rng.integers(0, 1024, (2, 60)),
               "fine_prompt": rng.integers(0, 1024, (8, 60))}
    entry = {}
    for key, value in prompts.items():
        np.save(voice_dir / f"en_speaker_0_{key}.npy", value)
        entry[key] = f"speaker_embeddings/v2/en_speaker_0_{key}.npy"
    (root / "speaker_embeddings_path.json").write_text(json.dumps({"repo_or_path": str(root),
                                                                   "v2/en_speaker_0": entry}))
    return root


def test_checkpoint_of_another_size_is_refused(tiny_checkpoint):
    with pytest.raises(SourceError, match=r"num_layers: checkpoint 2 != recipe 12.*bark-small or bark"):
        checkpoint_reference(get_recipe("bark-small"), ModelSource("checkpoint", str(tiny_checkpoint)))


def test_checkpoint_export_carries_tokenizer_and_voices(tiny_checkpoint, tmp_path):
    out = export_artifact(ExportOptions("bark-tiny", ModelSource("checkpoint", str(tiny_checkpoint)), tmp_path / "a"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["source"]["kind"] == "checkpoint" and manifest["source"]["random_weights"] is False
    assert (out / manifest["tokenizer"] / "vocab.txt").is_file()
    voice = np.load(out / manifest["voices"]["v2/en_speaker_0"], allow_pickle=False)
    assert voice["fine_prompt"].shape == (8, 60)
    rows = run_parity(out, graphs=("semantic", "fine"))
    assert rows and all(r.passed for r in rows)


def test_history_merge_is_generates_merge_on_the_prefill_layout(tiny_reference):
    """The semantic graph's general rule reproduces BarkSemanticModel.generate's text + history merge."""
    import torch

    from ttsx.recipes.families.bark.graphs import semantic_prefill_embeds
    from ttsx.recipes.families.bark.kinds import history_merge

    c, rng = TINY.constants, np.random.default_rng(0)
    text = torch.from_numpy(rng.integers(0, 129_600, (2, 256)))
    history = torch.from_numpy(rng.integers(0, 10_000, (2, 256)))
    ids = torch.cat([text, torch.full((2, 1), c.semantic_infer)], 1)
    merged = history_merge(tiny_reference.semantic, ids, torch.cat([history, torch.full((2, 1), -1)], 1))
    expected = semantic_prefill_embeds(tiny_reference.semantic, text, history, c.semantic_infer)
    assert torch.equal(merged, expected)
