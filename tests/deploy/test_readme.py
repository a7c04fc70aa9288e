"""README.md stays accurate: every `pantau` command it shows exists with the options it uses (and answers
--help), every make target exists, every repository path it names is there, and the docker compose
commands name services and profiles the compose file has."""

from __future__ import annotations

import re
import shlex
from typing import Final

import pytest
from click.testing import CliRunner

from pantau.cli import cli
from tests.deploy.compose import REPO, command_of, services, unknown_options

README: Final = (REPO / "README.md").read_text()
CODE: Final = "\n".join(re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL))
TOP_LEVEL: Final = ("pantau/", "gateway/", "drivers/", "backend/", "grafana/", "firmware_configs/", "docs/",
                    "tests/", "bench/", ".ci/")  # fmt: skip


def command_lines(prefix: str) -> list[list[str]]:
    """Commands starting with `prefix` in the shell blocks (continuations joined, comments and `[...]`
    optional brackets dropped) and in inline code."""
    text = CODE.replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    lines += re.findall(rf"`({re.escape(prefix)} [^`]+)`", README)
    found = []
    for line in lines:
        if line.startswith(prefix + " ") or line == prefix:
            words = shlex.split(line.replace("[", " ").replace("]", " "), comments=True)
            found.append(words)
    return found


PANTAU: Final = command_lines("pantau")


def test_the_readme_shows_the_commands_of_every_audience() -> None:
    assert len(PANTAU) >= 20
    for needed in ("make demo", "make test", "make test-fast", "pantau gateway check --config", "--probe",
                   "systemctl enable", "docker compose up", "curl"):  # fmt: skip
        assert needed in README, needed
    # The two commands come first.
    first_block = re.search(r"```sh\n(.*?)```", README, flags=re.DOTALL)
    assert first_block and first_block.group(1).split()[:2] == ["make", "demo"]


@pytest.mark.parametrize("words", PANTAU, ids=[" ".join(w[:4]) for w in PANTAU])
def test_pantau_commands_exist_with_their_options(words: list[str]) -> None:
    command, rest = command_of(words[1:])
    assert unknown_options(command, rest) == [], words
    path = words[1 : len(words) - len(rest)]
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output


def test_make_targets_exist() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"(?m)^([a-z][a-z0-9_-]*):", makefile))
    used = set(re.findall(r"`?make ([a-z][a-z0-9_-]*)", README))
    assert used <= targets, used - targets


def test_paths_named_exist() -> None:
    named = set(re.findall(r"`([^`\s]+)`", README)) | set(re.findall(r"\]\(([^)\s]+)\)", README))
    paths = {
        n.rstrip(",.") for n in named if n.startswith(TOP_LEVEL) or n in ("Dockerfile", "docker-compose.yml")
    }
    for path in sorted(paths):
        if "<" in path or "*" in path or "{" in path:
            continue
        assert (REPO / path).exists(), f"README names {path}, which does not exist"
    assert (REPO / "docs/img/live-page.png").is_file()


def test_docker_compose_commands_name_what_the_file_has() -> None:
    found = services()
    profiles = {p for s in found.values() for p in s.get("profiles", [])}
    for words in command_lines("docker"):
        assert words[:2] == ["docker", "compose"], words
        args = words[2:]
        if "--profile" in args:
            assert args[args.index("--profile") + 1] in profiles
        for verb in ("restart", "logs"):
            if verb in args:
                named = [a for a in args[args.index(verb) + 1 :] if not a.startswith("-")]
                assert set(named) <= set(found), named
    script = command_lines("backend/deploy/compose/make-secrets.sh")
    assert script and (REPO / script[0][0]).is_file()
