"""A released-layout Parler-TTS snapshot at a recipe's sizes, saved by parler's own code with descript's DAC, exported
by ttsx and compared with parler's own greedy generate (a by-hand check; CI runs the same flow at tiny width:
tests/recipes/parler/test_descript_dac.py).

    python scripts/parler/descript_snapshot.py --recipe parler-tts-mini --work /tmp/pmd [--tokens 60]

1. ttsx's seeded random weights of the recipe (description and codes made to matter) for T5 and the decoder;
2. in the Parler-TTS reference venv (transformers 4.46.1, parler-tts 0.2.3, descript-audio-codec 1.0.0):
   ParlerTTSConfig.from_sub_models_config(T5, DACConfig, decoder) with a seeded descript DAC, save_pretrained,
   then greedy generate on two texts with one description (tests/recipes/parler/make_descript_snapshot.py);
3. in this interpreter: `ttsx export --model SNAPSHOT`, `ttsx parity`, and ttsx's greedy synthesis of the same
   texts; prints whether the codes equal generate's and the audio's largest difference.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
TEST_HELPERS = [str(ROOT / "tests" / "recipes" / "parler")]

DESCRIPTION = "A female speaker with a calm voice and very clear recording quality."
TEXTS = ["Hello world, how are you today?", "Good morning."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", default="parler-tts-mini")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=60, help="greedy decoder steps per text")
    args = parser.parse_args()

    import ttsx  # before the tests' folders join sys.path: tests/ttsx would be taken for a namespace package
    from ttsx.checks.parity import failures, run_parity
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes import get_recipe
    from ttsx.recipes.families.parler.reference import build
    from ttsx.recipes.source import ModelSource
    from ttsx.runtimes.pipeline import SynthesisOptions

    sys.path += TEST_HELPERS
    from snapshot import parler_tokenizer  # the tests' word-level T5-style tokenizer (no hub here)
    from reference_venv import run_script

    recipe, work = get_recipe(args.recipe), args.work
    work.mkdir(parents=True, exist_ok=True)
    tokenizer = parler_tokenizer(recipe.t5.vocab)
    ids = lambda text: torch.tensor([tokenizer(text)["input_ids"]])  # noqa: E731
    cases = [{"inputs": {"input_ids": ids(DESCRIPTION), "attention_mask": torch.ones_like(ids(DESCRIPTION)),
                         "prompt_input_ids": ids(t), "prompt_attention_mask": torch.ones_like(ids(t))},
              "max_new_tokens": args.tokens,  # random weights never end and emit ids past the codebook: both sides
              "kwargs": {"suppress_tokens": list(range(recipe.decoder.eos, recipe.decoder.vocab))}}  # mask EOS on
             for t in TEXTS]
    if (work / "made.pt").is_file() and (work / "snapshot" / "config.json").is_file():
        print(f"reusing {work / 'snapshot'} and what generate made with it (remove {work} to redo)", flush=True)
    else:
        make_snapshot(recipe, work, tokenizer, cases, build, run_script)
    made = torch.load(work / "made.pt", weights_only=False)
    codec = json.loads((work / "snapshot" / "config.json").read_text())["audio_encoder"]["model_type"]
    print(f"snapshot by parler on transformers {made['transformers']}, codec {codec}", flush=True)
    clock = time.perf_counter()
    artifact = work / "artifact"
    if not (artifact / "manifest.json").is_file():
        export_artifact(ExportOptions(args.recipe, ModelSource("checkpoint", location=str(work / "snapshot")), artifact))
    print(f"exported in {time.perf_counter() - clock:.0f} s", flush=True)
    clock = time.perf_counter()
    rows = run_parity(artifact)
    print(f"ttsx parity: {sum(r.passed is True for r in rows)} passed, {len(failures(rows))} failed "
          f"in {time.perf_counter() - clock:.0f} s", flush=True)
    options = SynthesisOptions(greedy=True, batch_size=2, max_tokens=args.tokens, instructions=DESCRIPTION,
                               stop_at_eos=False)  # ids from EOS on masked, as generate's suppress_tokens above
    with ttsx.load(artifact) as pipeline:
        speech = pipeline(TEXTS, options=options)
    for i, result in enumerate(made["results"]):
        theirs = result["codes"].reshape(recipe.dac.codebooks, -1).numpy()
        audio = result["audio"].reshape(-1).numpy()
        same = speech.decoder[i].shape == theirs.shape and np.array_equal(speech.decoder[i], theirs)
        diff = float(np.abs(speech.audio[i] - audio).max()) if speech.audio[i].shape == audio.shape else float("inf")
        print(f"text {i}: codes {'equal' if same else 'DIFFER'} ({theirs.shape[1]} frames), audio max abs diff "
              f"{diff:.2e} (audio std {audio.std():.3f})")


def make_snapshot(recipe, work: Path, tokenizer, cases: list, build, run_script) -> None:
    """ttsx's seeded weights of `recipe` (T5, decoder) -> in the reference venv: a seeded descript DAC,
    save_pretrained and generate (make_descript_snapshot.py); the tokenizer saved beside."""
    clock = time.perf_counter()
    model = build(recipe, 0)
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("audio_encoder.")}
    del model
    torch.save({"t5": recipe.t5.kwargs(), "decoder": recipe.decoder.kwargs(), "seed": 5, "weights": weights,
                "dac": {"num_codebooks": recipe.dac.codebooks, "latent_dim": recipe.dac.latent,
                        "codebook_size": recipe.dac.codebook_size},
                "cases": cases, "codes": torch.zeros(1, 1, recipe.dac.codebooks, 4, dtype=torch.long)}, work / "in.pt")
    del weights
    print(f"weights drawn in {time.perf_counter() - clock:.0f} s; saving with parler's own code...", flush=True)
    clock = time.perf_counter()
    run_script("make_descript_snapshot.py", str(work / "in.pt"), str(work / "snapshot"), str(work / "made.pt"),
               timeout=3600)
    tokenizer.save_pretrained(work / "snapshot")
    print(f"snapshot saved and generated in {time.perf_counter() - clock:.0f} s", flush=True)


if __name__ == "__main__":
    main()
