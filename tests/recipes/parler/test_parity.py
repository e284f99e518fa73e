"""parler-tts-tiny: every graph against parler_tts's modules (both cache flavours, the torch backend), every input
moving the outputs, and an inert cross-attention failing."""
import json

import numpy as np
import pytest

from ttsx.checks.parity import run_parity

GRAPHS = {"encoder", "embed_prompt", "embed_codes", "decoder", "dac"}


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_every_graph_matches_parler_and_moves_with_every_input(parler_artifact, backend):
    rows = run_parity(parler_artifact, backend)
    assert {r.graph for r in rows} == GRAPHS | ({"end to end"} if backend == "onnxruntime" else set())
    assert [r for r in rows if not r.passed] == []
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by"}
    assert {("encoder", "input_ids changed"), ("encoder", "attention_mask changed"),
            ("decoder", "inputs_embeds changed"), ("decoder", "encoder_attention_mask changed"),
            ("decoder", "past_key_values.0.encoder.key changed"), ("decoder", "past_key_values.1.encoder.value changed"),
            ("decoder", "cache_lengths changed"), ("decoder", "past_key_values.* changed"),
            ("decoder", "lengths changed"), ("dac", "codes changed"), ("embed_codes", "codes changed")} <= moved


def test_the_tensorrt_flavour_is_ready_and_matches_parler(parler_tensorrt_artifact):
    manifest = json.loads((parler_tensorrt_artifact / "manifest.json").read_text())
    assert manifest["kv_cache"] == "tensorrt"
    assert {name: entry["tensorrt_problems"] for name, entry in manifest["graphs"].items()} == dict.fromkeys(GRAPHS, [])
    rows = run_parity(parler_tensorrt_artifact, graphs=("decoder",))  # TensorScatter, run by onnxruntime
    assert rows and all(r.passed for r in rows)


def test_random_cross_attention_is_not_inert(parler_reference):
    """transformers' init attends uniformly (logit std ~0.003), so the description's keys would not matter;
    the reference's attention is sharpened: moving one layer's keys moves the logits well past the tolerance."""
    from ttsx.recipes import get_recipe
    from ttsx.recipes.kinds import Case

    kind = get_recipe("parler-tts-tiny").graph_kind("decoder")
    spec = kind.spec
    rng = np.random.default_rng(0)
    feed = kind.feed(parler_reference, spec, Case("p", 2, 12, ragged=True), rng)
    base = kind.reference(parler_reference, spec, {k: np.array(v) for k, v in feed.items()})["logits"]
    moved = {k: np.array(v) for k, v in feed.items()}
    key = "past_key_values.0.encoder.key"
    moved[key] = moved[key][::-1].copy()  # the rows' descriptions swapped
    assert np.abs(kind.reference(parler_reference, spec, moved)["logits"] - base).max() > 1e-2
