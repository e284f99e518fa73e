"""The real bark-small architecture (random weights): export, per-graph and end-to-end parity."""
import json

import pytest
from click.testing import CliRunner

from ttsx.app.cli import main

pytestmark = pytest.mark.slow


def test_bark_small_exports_and_every_graph_passes_parity(tmp_path):
    out = tmp_path / "bark-small"
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--recipe", "bark-small", "--random-weights", "-o", str(out)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe"] == "bark-small" and len(manifest["graphs"]) == 4  # semantic, coarse, fine, codec
    result = runner.invoke(main, ["parity", str(out)])
    assert result.exit_code == 0, result.output
    assert "75 passed, 0 failed" in result.output  # case rows, a sensitivity row per changed input, 3 end-to-end rows
    assert result.output.count("first divergence: none") == 3
