"""The `pantau` command's table of groups (pantau/cli.py): every entry loads the group it names, the
listing stays complete although groups are imported only when chosen, and a wrong entry fails by name."""

from __future__ import annotations

import tomllib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pantau import cli as cli_module
from pantau.cli import COMMAND_GROUPS, Entry, cli, load_command


@pytest.mark.parametrize("name", sorted(COMMAND_GROUPS))
def test_every_registered_group_loads_under_its_name(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert cli.get_command(click.Context(cli), name) is command


def test_every_group_names_an_extra_pyproject_declares() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extras = set(pyproject["project"]["optional-dependencies"])
    assert {entry.extra for entry in COMMAND_GROUPS.values()} - {None} <= extras


def test_help_lists_every_group_with_its_own_summary() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:", 1)[1]
    names = [line.split()[0] for line in listed.strip().splitlines()]
    assert names == sorted(COMMAND_GROUPS)
    for name in COMMAND_GROUPS:
        # The start of the group's own docstring (click shortens the line to the terminal's width).
        assert load_command(name).get_short_help_str()[:30] in listed, name


def test_an_unknown_command_is_refused_by_name() -> None:
    result = CliRunner().invoke(cli, ["gatewy", "check"])
    assert result.exit_code == 2
    assert "No such command 'gatewy'" in result.output


def test_a_table_entry_that_names_something_else_fails_naming_the_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(cli_module.COMMAND_GROUPS, "gateway", Entry("gateway.cli:check", "gateway"))
    with pytest.raises(TypeError, match=r"COMMAND_GROUPS\['gateway'\] = 'gateway.cli:check' is not a click"):
        load_command("gateway")


@pytest.fixture
def group_without_its_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A `backend` group whose module imports a library this environment lacks, as `pantau backend` does
    on a box installed with `pantau[gateway]` only (no FastAPI)."""
    (tmp_path / "needs_absent_library.py").write_text("import absent_library_of_an_extra\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        cli_module.COMMAND_GROUPS, "backend", Entry("needs_absent_library:backend", "backend")
    )
    return "backend"


def test_a_group_whose_extra_is_missing_is_listed_with_its_install_line(
    group_without_its_library: str,
) -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "backend   (not installed: pip install 'pantau[backend]')" in result.output
    assert "gateway   The field gateway" in result.output  # the others are listed as ever


@pytest.mark.parametrize(
    "args", [["backend"], ["backend", "--help"], ["backend", "run", "--config", "x.yaml"]]
)
def test_using_a_group_whose_extra_is_missing_says_what_to_install(
    group_without_its_library: str, args: list[str]
) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert result.output == (
        "Error: pantau backend needs the backend extra, not installed here (no module "
        "'absent_library_of_an_extra'): pip install 'pantau[backend]'\n"
    )


def test_a_missing_module_of_pantau_itself_is_a_broken_install_not_an_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        cli_module.COMMAND_GROUPS, "gateway", Entry("gateway.no_such_module:gateway", "gateway")
    )
    with pytest.raises(ModuleNotFoundError, match=r"'gateway\.no_such_module'"):
        load_command("gateway")
