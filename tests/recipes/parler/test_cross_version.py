"""parler_tts patched by ttsx on transformers 5 generates exactly what the original does on transformers 4.46.1.

The original runs in the reference venv (reference_venv.py: the running interpreter's packages visible, transformers
4.46.1 inside: parler-tts's own pin), built once under ~/.cache/ttsx (TTSX_PARLER_REFERENCE_VENV
names another); both interpreters load the same tiny weights (random, and the EOS-prone snapshot's) and run
the same generate calls: greedy, seeded sampling with the defaults (top_k 50: transformers 5 drops it
silently without ttsx's patch), warped sampling, a padded batch, and every codebook ending in EOS. The
raw ids must be equal and the audio within 1e-5.
"""
import subprocess
import sys
from pathlib import Path

import torch

from ttsx.recipes import get_recipe

from .reference_venv import reference_venv

HERE = Path(__file__).resolve().parent


def _cases(recipe, text) -> list[dict]:
    desc = [text.encode("A female speaker with a calm voice."), text.encode("A man speaks fast.")]
    prompts = [text.encode("Hello world, how are you today?"), text.encode("Good morning.")]
    width = max(map(len, desc)), max(map(len, prompts))

    def batch(rows, n):
        ids = torch.tensor([r + [0] * (n - len(r)) for r in rows])
        return ids, (torch.arange(n)[None] < torch.tensor([len(r) for r in rows])[:, None]).long()

    solo = {"input_ids": torch.tensor([desc[0]]), "attention_mask": torch.ones(1, len(desc[0]), dtype=torch.long),
            "prompt_input_ids": torch.tensor([prompts[0]]),
            "prompt_attention_mask": torch.ones(1, len(prompts[0]), dtype=torch.long)}
    (d, dm), (p, pm) = batch(desc, width[0]), batch(prompts, width[1])
    padded = {"input_ids": d, "attention_mask": dm, "prompt_input_ids": p, "prompt_attention_mask": pm}
    free = {"suppress_tokens": list(range(recipe.decoder.bos, recipe.decoder.vocab))}  # random weights emit them
    return [
        {"name": "greedy", "weights": "random", "seed": 0, "inputs": solo,
         "kwargs": {"do_sample": False, "max_new_tokens": 40, **free}},
        {"name": "sampled, defaults", "weights": "random", "seed": 1, "inputs": solo,
         "kwargs": {"max_new_tokens": 40, **free}},
        {"name": "sampled, warped", "weights": "random", "seed": 2, "inputs": solo,
         "kwargs": {"max_new_tokens": 30, "temperature": 0.7, "top_k": 5, "top_p": 0.9, **free}},
        {"name": "padded batch, greedy", "weights": "random", "seed": 0, "inputs": padded,
         "kwargs": {"do_sample": False, "max_new_tokens": 30, **free}},
        {"name": "every codebook ends", "weights": "snapshot", "seed": 0, "inputs": padded,
         "kwargs": {"do_sample": False, "max_new_tokens": 200}},
        {"name": "ends, sampled", "weights": "snapshot", "seed": 3, "inputs": solo, "kwargs": {"max_new_tokens": 200}},
    ]


def test_patched_generate_equals_the_original_on_transformers_4_46(parler_reference, parler_snapshot_reference,
                                                                    parler_snapshot_artifact, tmp_path):
    import ttsx

    python = reference_venv()
    recipe = get_recipe("parler-tts-tiny")
    with ttsx.load(parler_snapshot_artifact) as pipeline:
        cases = _cases(recipe, pipeline.text)
    data = {"t5": recipe.t5.kwargs(), "dac": recipe.dac.kwargs(), "decoder": recipe.decoder.kwargs(), "cases": cases,
            "weights": {"random": parler_reference.state_dict(), "snapshot": parler_snapshot_reference.state_dict()}}
    torch.save(data, tmp_path / "in.pt")
    outputs = {}
    for name, interpreter in (("patched", sys.executable), ("original", str(python))):
        run = subprocess.run([interpreter, str(HERE / "generate_cases.py"), str(tmp_path / "in.pt"),
                              str(tmp_path / f"{name}.pt")], capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        outputs[name] = torch.load(tmp_path / f"{name}.pt", weights_only=False)
    assert outputs["original"]["transformers"] == "4.46.1" and outputs["patched"]["transformers"].startswith("5.")
    ours, theirs = outputs["patched"]["results"], outputs["original"]["results"]
    for case in cases:
        a, b = ours[case["name"]], theirs[case["name"]]
        assert torch.equal(a["raw"], b["raw"]), case["name"]
        torch.testing.assert_close(a["audio"], b["audio"], atol=1e-5, rtol=0, msg=case["name"])
    ended = ours["every codebook ends"]["raw"].reshape(2, recipe.decoder.codebooks, -1)
    assert (ended[0] == recipe.decoder.eos).any(-1).all()  # the first row's codebooks all emitted EOS
    assert not torch.equal(ours["greedy"]["raw"], ours["sampled, defaults"]["raw"])
