"""A snapshot as released checkpoints are made (descript's DAC, `dac_on_the_hub`), saved by parler's own code on
transformers 4.46.1 (make_descript_snapshot.py in the reference venv), exports with ttsx in the main venv, passes
parity, and synthesizes what parler's own generate + descript's DAC decode make (greedy codes exact, audio within
1e-4). A tiny T5 and decoder (parler-tts-tiny's EOS-prone snapshot weights) with the real-size DAC."""
import numpy as np
import pytest
import torch

import ttsx
from ttsx.checks.parity import run_parity
from ttsx.exporter.export import ExportOptions, export_artifact
from ttsx.recipes import get_recipe
from ttsx.recipes.source import ModelSource
from ttsx.runtimes.pipeline import SynthesisOptions

from .reference_venv import run_script

DESCRIPTION = "A female speaker with a calm voice and very clear recording quality."
TEXTS = ["Hello world, how are you today?", "Good morning."]
DAC = {"num_codebooks": 9, "latent_dim": 1024, "codebook_size": 1024}  # parler's DACConfig of every release
WAVE_TOL = dict(atol=1e-4, rtol=1e-3)


@pytest.fixture(scope="module")
def descript(parler_snapshot, parler_snapshot_reference, tmp_path_factory):
    """(snapshot dir, what parler + descript's DAC made with it, the codes decoded) from the reference venv."""
    from transformers import PreTrainedTokenizerFast

    recipe = get_recipe("parler-tts-tiny")
    root = tmp_path_factory.mktemp("descript")
    tokenizer = PreTrainedTokenizerFast.from_pretrained(parler_snapshot)  # the EOS-prone snapshot's word tokenizer
    ids = lambda text: torch.tensor([tokenizer(text)["input_ids"]])  # noqa: E731
    cases = [{"inputs": {"input_ids": ids(DESCRIPTION), "attention_mask": torch.ones_like(ids(DESCRIPTION)),
                         "prompt_input_ids": ids(t), "prompt_attention_mask": torch.ones_like(ids(t))},
              "max_new_tokens": 300} for t in TEXTS]
    weights = {k: v for k, v in parler_snapshot_reference.state_dict().items() if not k.startswith("audio_encoder.")}
    codes = torch.randint(0, 1024, (1, 1, 9, 24), generator=torch.Generator().manual_seed(4))
    torch.save({"t5": recipe.t5.kwargs(), "decoder": recipe.decoder.kwargs(), "dac": DAC, "seed": 5,
                "weights": weights, "cases": cases, "codes": codes}, root / "in.pt")
    run_script("make_descript_snapshot.py", str(root / "in.pt"), str(root / "snapshot"), str(root / "out.pt"),
               str(root / "sharded"))
    tokenizer.save_pretrained(root / "snapshot")
    tokenizer.save_pretrained(root / "sharded")
    made = torch.load(root / "out.pt", weights_only=False)
    assert made["transformers"] == "4.46.1"
    return root / "snapshot", made, codes


@pytest.fixture(scope="module")
def descript_artifact(descript, tmp_path_factory):
    return export_artifact(ExportOptions("parler-tts-tiny", ModelSource("checkpoint", location=str(descript[0])),
                                         tmp_path_factory.mktemp("descript-art") / "a"))


def test_the_snapshot_is_as_parler_saves_releases(descript):
    import json

    config = json.loads((descript[0] / "config.json").read_text())
    assert config["audio_encoder"]["model_type"] == "dac_on_the_hub"
    assert (descript[0] / "model.safetensors").is_file()
    from safetensors import safe_open

    with safe_open(str(descript[0] / "model.safetensors"), "pt") as f:
        names = list(f.keys())
    assert any(n.startswith("audio_encoder.model.decoder.") and "parametrizations.weight.original0" in n for n in names)


def test_a_sharded_snapshot_loads_the_same_weights(descript):
    """save_pretrained's shards (model-0000k-of-0000n.safetensors and their index) read as the whole file."""
    from ttsx.recipes import get_family

    snapshot = descript[0]
    sharded = snapshot.parent / "sharded"
    assert (sharded / "model.safetensors.index.json").is_file() and len(list(sharded.glob("model-*.safetensors"))) > 1
    family, recipe = get_family("parler"), get_recipe("parler-tts-tiny")
    whole, parts = (family.load_reference(recipe, ModelSource("checkpoint", location=str(d))).state_dict()
                    for d in (snapshot, sharded))
    assert whole.keys() == parts.keys() and all(torch.equal(whole[k], parts[k]) for k in whole)


def test_descript_dac_converts_exactly(descript):
    """Codes -> audio: ttsx's reading of the snapshot's DAC (a DacModel) against descript's own DAC.decode."""
    from ttsx.recipes import get_family

    snapshot, made, codes = descript
    model = get_family("parler").load_reference(get_recipe("parler-tts-tiny"),
                                               ModelSource("checkpoint", location=str(snapshot)))
    with torch.no_grad():
        ours = model.audio_encoder.decode(audio_codes=codes[0]).audio_values
    theirs = made["decoded"]
    assert float(theirs.std()) > 0.01  # the codes matter: audio of the scale the snapshot was given
    np.testing.assert_allclose(ours.reshape(-1).numpy(), theirs.reshape(-1).numpy(), atol=1e-5, rtol=0)


def test_the_export_passes_parity(descript_artifact):
    rows = run_parity(descript_artifact, graphs=("dac",), end_to_end=False)
    assert rows and [r for r in rows if not r.passed] == []
    assert any(r.metric == "moved by" and "codes changed" in r.case for r in rows)


def test_greedy_equals_parler_generate_with_descript_dac(descript, descript_artifact):
    """Each text's codes equal those generate (transformers 4.46.1) handed descript's DAC; the audio its decode."""
    _, made, _ = descript
    options = SynthesisOptions(greedy=True, batch_size=2, max_tokens=300, instructions=DESCRIPTION)
    with ttsx.load(descript_artifact) as pipeline:
        speech = pipeline(TEXTS, options=options)
    for i, result in enumerate(made["results"]):
        assert result["codes"] is not None and result["codes"].shape[-1] > 10
        np.testing.assert_array_equal(speech.decoder[i], result["codes"].reshape(9, -1).numpy())
        np.testing.assert_allclose(speech.audio[i], result["audio"].reshape(-1).numpy(), **WAVE_TOL)


def test_released_layouts_ttsx_does_not_read_are_refused_with_the_reason(descript, tmp_path):
    """Mini v1.1's separate prompt tokenizer (a prompt vocabulary that is not T5's) and rotary positions."""
    import json
    import shutil

    from ttsx.base.errors import SourceError
    from ttsx.recipes import get_family

    for key, value, reason in (("vocab_size", 90714, "separate prompt tokenizer"),
                               ("rope_embeddings", True, "rotary positions")):
        folder = tmp_path / key
        shutil.copytree(descript[0], folder)
        config = json.loads((folder / "config.json").read_text())
        (config if key == "vocab_size" else config["decoder"])[key] = value
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(SourceError, match=reason):
            get_family("parler").load_reference(get_recipe("parler-tts-tiny"),
                                                ModelSource("checkpoint", location=str(folder)))
