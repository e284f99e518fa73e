"""Bark's graphs against transformers: every graph, every input moving its outputs, the zero-codebook trap, TensorRT's flavour."""
import pytest

from ttsx.checks.parity import run_parity


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_every_tiny_graph_matches_transformers(tiny_artifact, backend):
    rows = run_parity(tiny_artifact, backend=backend)
    graphs = {r.graph for r in rows}
    expected = {"semantic", "coarse", "fine", "codec"}
    assert graphs == expected | ({"end to end"} if backend == "onnxruntime" else set())
    assert [r for r in rows if not r.passed] == []
    assert all(r.value == 1.0 for r in rows if r.metric == "tokens agree")  # fp32: greedy tokens identical
    cases = {r.case for r in rows}
    assert {"decode batch=2 past=1023 (limit)", "decode batch=3 pasts=9,7,5", "prefill batch=1 T=1"} <= cases
    assert {f"batch=1 codebook={k}" for k in range(1, 8)} <= cases


def test_every_input_of_every_graph_moves_its_outputs(tiny_artifact):
    rows = run_parity(tiny_artifact, graphs=("semantic", "fine", "codec"))
    moved = {(r.graph, r.case.split(", ")[-1]) for r in rows if r.metric == "moved by" and r.passed}
    assert {("fine", "input_ids changed"), ("fine", "codebook_idx changed"), ("codec", "codes changed"),
            ("semantic", "input_ids changed"), ("semantic", "history_ids changed"), ("semantic", "lengths changed"),
            ("semantic", "cache_lengths changed"), ("semantic", "past_key_values.* changed")} <= moved
    assert all(r.passed for r in rows)


def test_a_codec_that_ignores_its_codes_fails_parity(tmp_path, monkeypatch):
    """transformers leaves EnCodec's codebooks at zero: exported like that, the codec ignores its codes."""
    from ttsx.exporter.export import ExportOptions, export_artifact
    from ttsx.recipes.families.bark import reference
    from ttsx.recipes.source import ModelSource

    monkeypatch.setattr(reference, "fill_degenerate_buffers", lambda module, generator: [])
    out = export_artifact(ExportOptions("bark-tiny", ModelSource("random", seed=3), tmp_path / "zero-codebooks"))
    rows = run_parity(out, graphs=("codec",))
    failed = [r for r in rows if not r.passed]
    assert [(r.metric, r.case) for r in failed] == [("moved by", "batch=1 frames=75, codes changed")]


def test_the_tensorrt_cache_flavour_matches_transformers_on_onnxruntime(tiny_tensorrt_artifact):
    """TensorScatter (opset 24) over a static 1024-position cache: TensorRT's graphs, checked on the CPU."""
    rows = run_parity(tiny_tensorrt_artifact, graphs=("semantic", "coarse"))
    assert rows and [r for r in rows if not r.passed] == []
