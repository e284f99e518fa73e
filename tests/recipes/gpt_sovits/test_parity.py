"""gpt-sovits-tiny: every graph against upstream's modules (both cache flavours, the torch backend), every input
moving the outputs, and a broken t2s mask failing."""
import json

import numpy as np
import pytest

from ttsx.checks.parity import run_parity

GRAPHS = {"embed_text", "embed_audio", "t2s", "vits", "vits_stream", "clip_ids"}


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_every_graph_matches_upstream_and_moves_with_every_input(gpt_sovits_artifact, backend):
    rows = run_parity(gpt_sovits_artifact, backend)
    assert {r.graph for r in rows} == GRAPHS | ({"end to end"} if backend == "onnxruntime" else set())
    assert [r for r in rows if not r.passed] == []
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by"}
    assert {("t2s", "inputs_embeds changed"), ("t2s", "text_lengths changed"), ("t2s", "lengths changed"),
            ("t2s", "cache_lengths changed"), ("t2s", "past_key_values.* changed"), ("vits", "codes changed"),
            ("vits", "phoneme_ids changed"), ("vits", "refer changed"), ("vits", "noise changed"),
            ("embed_text", "bert_features changed"), ("embed_audio", "positions changed"),
            ("vits_stream", "overlap changed"), ("vits_stream", "fade changed"), ("vits_stream", "noise changed"),
            ("clip_ids", "wav16k changed")} <= moved


def test_v2pro_graphs_match_upstream_and_the_sv_embedding_moves_the_audio(gpt_sovits_home, tmp_path_factory):
    """gpt-sovits-v2pro-tiny (seeded): its VITS decodes take sv_emb (decode and decode_streaming), its speaker graph is
    ERes2NetV2.forward3; both move with their inputs."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.source import ModelSource

    out = export_artifact(ExportOptions("gpt-sovits-v2pro-tiny", ModelSource("random", seed=0),
                                        tmp_path_factory.mktemp("v2pro") / "a"))
    rows = run_parity(out, graphs=("vits", "vits_stream", "speaker"), end_to_end=False)
    assert {r.graph for r in rows} == {"vits", "vits_stream", "speaker"} and [r for r in rows if not r.passed] == []
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by"}
    assert {("vits", "sv_emb changed"), ("vits_stream", "sv_emb changed"), ("speaker", "fbank changed")} <= moved


def test_the_tensorrt_flavour_is_ready_and_matches_upstream(gpt_sovits_tensorrt_artifact):
    tensorrt_flavour = gpt_sovits_tensorrt_artifact
    manifest = json.loads((tensorrt_flavour / "manifest.json").read_text())
    assert manifest["kv_cache"] == "tensorrt"
    assert {name: entry["tensorrt_problems"] for name, entry in manifest["graphs"].items()} == dict.fromkeys(GRAPHS, [])
    rows = run_parity(tensorrt_flavour, graphs=("t2s",))  # TensorScatter and the prefix-LM mask, run by onnxruntime
    assert rows and all(r.passed for r in rows)


def test_a_causal_only_t2s_fails_the_prefill(gpt_sovits_artifact, gpt_sovits_reference, monkeypatch):
    """Without the prefix-LM mode (text attending causally, as a plain GPT would), the prefill must fail parity."""
    from ttsx.recipes import get_recipe
    from ttsx.recipes.kinds import Case
    from ttsx.recipes import kv_attention

    kind = get_recipe("gpt-sovits-tiny").graph_kind("t2s")
    spec = kind.spec
    feed = kind.feed(gpt_sovits_reference, spec, Case("p", 2, 20, ragged=True), np.random.default_rng(0))
    expected = kind.reference(gpt_sovits_reference, spec, feed)["logits"]
    import torch

    def run(module):
        inputs = [torch.from_numpy(np.array(feed[t.name])) for t in spec.inputs]
        with torch.no_grad():
            return module(*inputs)[0].numpy()

    np.testing.assert_allclose(run(kind.module(gpt_sovits_reference, "tensorrt")), expected, atol=1e-4, rtol=1e-3)
    causal = kv_attention.cache_attention
    monkeypatch.setattr(kv_attention, "cache_attention",
                        lambda *a, prefix_lengths=None, **k: causal(*a, **k))
    assert not np.allclose(run(kind.module(gpt_sovits_reference, "tensorrt")), expected, atol=1e-3)
