"""The `pantau` command's table of groups (pantau/cli.py): every entry loads the group it names, the
listing stays complete although groups are imported only when chosen, and a wrong entry fails by name."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pantau import cli as cli_module
from pantau.cli import COMMAND_GROUPS, cli, load_command


@pytest.mark.parametrize("name", sorted(COMMAND_GROUPS))
def test_every_registered_group_loads_under_its_name(name: str) -> None:
    command = load_command(name)
    assert command.name == name
    assert cli.get_command(click.Context(cli), name) is command


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
    monkeypatch.setitem(cli_module.COMMAND_GROUPS, "gateway", "gateway.cli:check")
    with pytest.raises(TypeError, match=r"COMMAND_GROUPS\['gateway'\] = 'gateway.cli:check' is not a click"):
        load_command("gateway")
