"""The Dockerfile checked for structure (Docker cannot run here): a pinned slim base that satisfies
requires-python, COPY sources that exist and are not ignored, a build stage that makes the wheel and an
image that installs it with the extras its services run (no source tree), no secrets, a non-root user for
everything that runs, a health check on a real API route, and the entry point and config path compose
relies on. The wheel itself is built and installed by tests/deploy/test_extras.py."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from backend.api.app import create_app
from backend.config.api import ApiConfig
from backend.inventory import SiteInventory
from backend.storage.model import Retention
from backend.storage.sqlite import SqliteStorage
from tests.deploy.compose import REPO, services

DOCKERFILE: Final = REPO / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions() -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, args = stripped.partition(" ")
            found.append(Instruction(keyword.upper(), args.strip()))
    return found


def of(keyword: str) -> list[str]:
    return [i.args for i in instructions() if i.keyword == keyword]


def ignored() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def stages() -> list[list[Instruction]]:
    """The instructions of each stage, in order."""
    found: list[list[Instruction]] = []
    for instruction in instructions():
        if instruction.keyword == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_base_image_is_a_pinned_slim_python_that_pantau_supports() -> None:
    bases = {args.split()[0] for args in of("FROM")}
    assert len(bases) == 1, f"build and image stages on one base: {bases}"
    (base,) = bases
    image, _, tag = base.partition(":")
    assert image == "python" and "slim" in tag, base
    match = re.match(r"(\d+)\.(\d+)-slim", tag)
    assert match, f"{base}: pin the Python minor version"
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    minimum = re.fullmatch(r">=(\d+)\.(\d+)", project["requires-python"])
    assert minimum and tuple(map(int, match.groups())) >= tuple(map(int, minimum.groups()))


def test_copied_sources_exist_and_reach_the_build_context() -> None:
    patterns = ignored()
    for args in of("COPY"):
        *sources, _ = shlex.split(args)
        if sources[0].startswith("--from="):
            continue  # from the build stage, not the context
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            name = source.rstrip("/")
            assert not any(fnmatch.fnmatch(name, p) for p in patterns), f"{source} is in .dockerignore"
    # The packages the project installs, and the shipped profiles the code finds next to itself: the image's
    # wheel is pantau's whole wheel (pantau_demo too: `pantau demo` then asks for its extra, not a package).
    copied = {shlex.split(a)[0].rstrip("/") for a in of("COPY")}
    packages = {"pantau", "pantau_demo", "gateway", "drivers", "backend", "firmware_configs"}
    assert packages | {"pyproject.toml"} <= copied


def test_the_image_installs_the_built_wheel_with_its_extras_not_a_checkout() -> None:
    build, image = stages()
    assert build[0].args.endswith(" AS build")
    runs = [i.args for i in build if i.keyword == "RUN"]
    assert runs == ["pip wheel --no-deps --wheel-dir /wheels ."]
    assert [i.args for i in image if i.keyword == "COPY"] == ["--from=build /wheels/ /wheels/"]  # no sources
    (install,) = [i.args for i in image if i.keyword == "RUN"]
    assert "set -- /wheels/pantau-*.whl" in install and 'pip install "$1[backend,gateway]"' in install
    assert "--editable" not in install and " -e " not in install
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert {"backend", "gateway"} <= set(extras)
    # compose runs the backend, gateways and simulators from this image: [backend,gateway] covers them.
    commands = {s["command"][0] for s in services().values() if s.get("image", "").startswith("pantau:")}
    assert commands == {"backend", "gateway", "simulate"}


def test_build_context_leaves_out_local_state_and_secrets() -> None:
    patterns = set(ignored())
    assert {".git", ".venv", ".env", "var", "test-artifacts", "backend/deploy/compose/secrets"} <= patterns


def test_no_secret_is_baked_into_the_image() -> None:
    text = DOCKERFILE.read_text()
    assert not of("ADD"), "ADD can fetch URLs and unpack archives: COPY only"
    for args in of("ENV") + of("ARG"):
        for name in re.findall(r"([A-Z_][A-Z0-9_]*)=", args):
            assert not re.search(r"PASSWORD|TOKEN|SECRET|KEY", name), f"{name} in the image"
    copied = " ".join(of("COPY") + of("ADD"))
    assert ".env" not in copied and "secrets" not in copied and "passwd" not in text


def test_everything_runs_as_an_unprivileged_user() -> None:
    steps = instructions()
    users = [i for i in steps if i.keyword == "USER"]
    assert users, "no USER: the services would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    last_user = max(n for n, i in enumerate(steps) if i.keyword == "USER")
    assert all(i.keyword != "RUN" for i in steps[last_user:]), "RUN after USER would need root"
    (run,) = [i.args for i in stages()[-1] if i.keyword == "RUN"]
    assert f"useradd --system --uid 10001 --gid {user}" in run
    assert "--shell /usr/sbin/nologin" in run


def test_the_health_check_asks_a_route_the_api_serves(tmp_path: Path) -> None:
    (check,) = of("HEALTHCHECK")
    assert "--interval=" in check and "--timeout=" in check
    command = json.loads(check.split("CMD", 1)[1])
    assert command[0] == "python" and "PANTAU_HEALTH_URL" in command[-1]
    urls = [m.group(1) for e in of("ENV") if (m := re.search(r"PANTAU_HEALTH_URL=(\S+)", e))]
    assert len(urls) == 1
    url = urlsplit(urls[0])
    assert (url.hostname, url.port) == ("127.0.0.1", 8000) and of("EXPOSE") == ["8000"]
    storage = SqliteStorage(tmp_path / "pantau.sqlite3", Retention())
    app = create_app(ApiConfig(), storage, SiteInventory([]), None)
    assert url.path in app.openapi()["paths"]


def test_entry_point_and_default_command_match_compose() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    (entrypoint,) = of("ENTRYPOINT")
    assert json.loads(entrypoint) == ["pantau"] and "pantau" in scripts
    (cmd,) = of("CMD")
    assert json.loads(cmd) == services()["backend"]["command"]
    workdirs = of("WORKDIR")
    assert workdirs[-1] == "/var/lib/pantau"
    assert any(v.endswith(":/var/lib/pantau") for v in services()["backend"]["volumes"])
