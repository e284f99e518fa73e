import json

from click.testing import CliRunner

from ttsx.app.cli import main


def test_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "export" in result.output and "parity" in result.output


def test_unknown_recipe_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(main, ["export", "--recipe", "bork", "--random-weights", "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "unknown recipe 'bork'; known recipes: " in result.output and "toy-tiny" in result.output
    assert not (tmp_path / "o").exists()


def test_export_then_parity(tmp_path):
    out = tmp_path / "tiny"
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--recipe", "toy-tiny", "--random-weights", "--seed", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("ttsx: graphs ")]
    assert [line.split(":")[1].strip() for line in lines] == [f"graphs {i}/2" for i in range(1, 3)]  # one line a step
    assert "graphs 2/2: vocoder exported in" in result.output  # progress names each graph
    assert json.loads((out / "manifest.json").read_text())["source"]["seed"] == 3
    result = runner.invoke(main, ["parity", str(out), "--graph", "vocoder", "--graph", "lm"])
    assert result.exit_code == 0, result.output
    assert "max abs diff" in result.output and "0 failed" in result.output


def test_parity_exit_code_on_bad_artifact(tmp_path):
    result = CliRunner().invoke(main, ["parity", str(tmp_path)])
    assert result.exit_code == 1
    assert "no manifest.json" in result.output
