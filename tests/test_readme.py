"""The README's command table and recipe list follow the CLI, so they can't go stale unnoticed."""
import re
from pathlib import Path

from click.testing import CliRunner

from ttsx.app.cli import main
from ttsx.recipes import get_family, get_recipe, recipe_names

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def commands_table() -> str:
    """The README's "## Commands" section."""
    return README.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]


def test_every_command_is_in_the_readme_table_and_no_other():
    listed = set(re.findall(r"^\| `ttsx ([a-z-]+)", commands_table(), re.MULTILINE))
    assert listed == set(main.commands)
    for name in main.commands:  # and each command's help says what it does
        assert CliRunner().invoke(main, [name, "--help"]).exit_code == 0


def test_every_recipe_the_cli_lists_is_in_the_readme():
    shipped = [n for n in recipe_names() if type(get_family(get_recipe(n).family)).__module__.startswith("ttsx.")]
    missing = [n for n in shipped if f"`{n}`" not in commands_table()]
    assert not missing, f"README's `ttsx recipes` row lacks {missing}"
