"""The real bark-small architecture (random weights): export, per-graph and end-to-end parity."""
import json
import re

import pytest
from click.testing import CliRunner

from ttsx.app.cli import main
from ttsx.recipes import get_recipe

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
    passed = re.search(r"(\d+) passed, 0 failed", result.output)
    cases = sum(len(kind.cases()) for kind in get_recipe("bark-small").kinds())
    assert passed and int(passed.group(1)) > cases, result.output  # every case, plus sensitivity and end-to-end rows
    assert result.output.count("first divergence: none") == 3
