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


def families_table() -> str:
    """The README's opening table (family x what works), before "## Install"."""
    return README.split("\n## Install", 1)[0]


def test_every_built_in_family_has_a_row_with_its_recipes():
    """Each built-in family's real-size recipes (not its -tiny test sizes) are named in the families table, and
    the table names no recipe the CLI does not know."""
    table = families_table()
    shipped = [n for n in recipe_names() if type(get_family(get_recipe(n).family)).__module__.startswith("ttsx.")]
    real = [n for n in shipped if not n.endswith("-tiny")]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len({get_recipe(n).family for n in real})  # one row per family
    assert [n for n in real if f"`{n}`" not in table] == []
    named = set(re.findall(r"`([a-z0-9-]+)`", "\n".join(row.split("|")[2] for row in rows)))
    assert named <= set(shipped), f"the families table names unknown recipes: {named - set(shipped)}"


def test_the_readme_stays_short_and_its_links_resolve():
    assert len(README.splitlines()) <= 260
    root = Path(__file__).resolve().parents[1]
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README):
        if not target.startswith("http"):
            assert (root / target).exists(), f"README links to {target}, which does not exist"


def test_the_docs_links_resolve():
    root = Path(__file__).resolve().parents[1] / "docs"
    for page in [*root.glob("*.md"), *root.glob("families/*.md")]:  # docs/research holds notes, not links
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http", "mailto:")):
                assert (page.parent / target).exists(), f"{page.relative_to(root)} links to {target}: missing"
