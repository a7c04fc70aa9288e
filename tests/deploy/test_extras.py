"""The extras (pyproject.toml): a field box installs `pantau[gateway]` and gets no web server, Grafana client
or demo broker; every library a part imports is in the extra that part's box installs; and the wheel,
installed into a fresh environment with the gateway's libraries only, runs `pantau gateway check` from a
folder outside the repository, on the site and profile files it ships.

Without an index (CI must not depend on one for this): what an extra installs is worked out from the
metadata of this environment (tests/deploy/extras.py), and the fresh environment gets exactly those
distributions, linked from this one, next to the wheel pip installs with --no-deps. `pip install
'.[gateway]'` from an index gives the same set (shown by hand in the commit that added this).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Final

import pytest

from tests.deploy.compose import REPO
from tests.deploy.extras import closure, imported_libraries, site_packages, top_level_entries

#: Libraries of the server and the demo: a field gateway box installs none of them.
NOT_ON_A_GATEWAY_BOX: Final = {
    *("fastapi", "starlette", "uvicorn", "httpx", "grafana-client", "amqtt"),
    "prometheus-client",  # the gateway writes its metrics page itself (gateway/prometheus.py)
}

#: The folders whose imports each install must satisfy (pantau/ is the base: everything in it but the
#: MQTT adapter, which the gateway and backend runtimes use; the demo is a package of its own).
PARTS: Final[dict[tuple[str, ...], tuple[str, ...]]] = {
    (): ("pantau",),
    ("gateway",): ("gateway", "drivers", "pantau/mqtt"),
    ("backend",): ("backend", "pantau/mqtt"),
    ("demo",): ("pantau_demo",),
}
NOT_IN_BASE: Final = ("pantau/mqtt",)


def test_a_gateway_box_installs_no_server_or_demo_library() -> None:
    assert set(closure(["gateway"])) & NOT_ON_A_GATEWAY_BOX == set()
    assert {"pymodbus", "pyserial", "pyserial-asyncio-fast", "aiomqtt", "paho-mqtt"} <= set(
        closure(["gateway"])
    )


def test_the_backend_installs_no_field_protocol_or_demo_library() -> None:
    assert set(closure(["backend"])) & {"pymodbus", "pyserial", "pyserial-asyncio-fast", "amqtt"} == set()


def test_the_demo_installs_both_sides_and_its_broker() -> None:
    demo = set(closure(["demo"]))
    assert set(closure(["gateway"])) | set(closure(["backend"])) | {"amqtt"} <= demo


@pytest.mark.parametrize("extras", list(PARTS), ids=lambda extras: "+".join(extras) or "base")
def test_every_library_a_part_imports_is_in_its_extra(extras: tuple[str, ...]) -> None:
    installed = set(closure(extras))
    providers = metadata.packages_distributions()
    missing = []
    for folder in PARTS[extras]:
        for library, path in imported_libraries(REPO / folder):
            if extras == () and any(path.is_relative_to(REPO / skip) for skip in NOT_IN_BASE):
                continue
            if not installed & {n.lower().replace("_", "-") for n in providers.get(library, [library])}:
                missing.append(f"{path.relative_to(REPO)}: {library}")
    where = f"pantau[{','.join(extras)}]" if extras else "the base dependencies"
    assert not missing, f"declare in pyproject.toml, {where}: " + ", ".join(sorted(set(missing)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pantau's wheel, built offline (no build isolation: setuptools comes with the dev extra) from a copy
    of what it packages, so the build leaves nothing in the checkout."""
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("pantau", "pantau_demo", "gateway", "drivers", "backend", "firmware_configs"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [
            *pip,
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        timeout=120,
    )
    (built,) = out.glob("pantau-*.whl")
    return built


@pytest.mark.services  # builds with pip in a child process
def test_the_wheel_ships_the_profiles_sites_tables_and_page(wheel: Path) -> None:
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = [*REPO.glob("firmware_configs/**/*.yaml"), *REPO.glob("backend/rules/tables/*.yaml")]
    data += [*REPO.glob("backend/api/page/static/*"), *REPO.glob("pantau_demo/*.yaml")]
    assert len(data) > 15
    assert sorted(str(p.relative_to(REPO)) for p in data if str(p.relative_to(REPO)) not in shipped) == []


def install_box(extras: list[str], wheel: Path, where: Path) -> Path:
    """A fresh environment with the wheel and what `pantau[extras]` installs, nothing else: its bin/."""
    box = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(box)], check=True, timeout=60)
    python = box / "bin" / "python"
    install = ["install", "--quiet", "--no-deps", "--no-index", str(wheel)]
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), *install], check=True, timeout=120)
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    target = Path(subprocess.check_output([python, "-c", purelib], text=True, timeout=60).strip())
    for distribution in closure(extras).values():
        for entry in top_level_entries(distribution):
            link = target / entry
            if not link.exists():
                link.symlink_to(site_packages() / entry)
    return box / "bin"


@pytest.fixture(scope="module")
def gateway_box(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_box(["gateway"], wheel, tmp_path_factory.mktemp("gateway-box"))


@pytest.fixture(scope="module")
def backend_box(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_box(["backend"], wheel, tmp_path_factory.mktemp("backend-box"))


#: Imports every module of the packages named in argv (but `python -m pantau`) and prints
#: the ones that fail: what a box runs must import with what its extra installs.
IMPORT_ALL: Final = """
import importlib, pkgutil, sys
for top in sys.argv[1:]:
    for module in pkgutil.walk_packages(importlib.import_module(top).__path__, top + "."):
        if module.name != "pantau.__main__":
            try:
                importlib.import_module(module.name)
            except ImportError as exc:
                print(module.name, exc)
"""


@pytest.mark.services  # starts pip and python in child processes
@pytest.mark.parametrize(
    ("box", "packages", "absent"),
    [
        (
            "gateway_box",
            ("pantau", "gateway", "drivers"),
            ("fastapi", "uvicorn", "httpx", "grafana_client", "amqtt"),
        ),
        ("backend_box", ("pantau", "backend"), ("pymodbus", "serial", "serial_asyncio_fast", "amqtt")),
    ],
    ids=["gateway", "backend"],
)
def test_every_module_a_box_runs_imports_with_its_extra_alone(
    box: str, packages: tuple[str, ...], absent: tuple[str, ...], request: pytest.FixtureRequest
) -> None:
    python = str(request.getfixturevalue(box) / "python")
    failed = subprocess.run(
        [python, "-c", IMPORT_ALL, *packages], capture_output=True, text=True, timeout=120, check=False
    )
    assert failed.returncode == 0, failed.stderr
    assert failed.stdout == ""
    for library in absent:  # the box is really lean: the import above would have found these
        probe = subprocess.run(
            [python, "-c", f"import {library}"], capture_output=True, timeout=60, check=False
        )
        assert probe.returncode == 1, library


def run_on_the_box(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(bin_dir / "pantau"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=env,
    )


@pytest.mark.services  # starts pip and pantau in child processes
def test_gateway_check_runs_on_a_gateway_only_install(gateway_box: Path, tmp_path: Path) -> None:
    shipped = gateway_box.parent / "lib"
    (site,) = shipped.glob("python3*/site-packages/firmware_configs/sites/ampal-mufakat.yaml")
    result = run_on_the_box(gateway_box, "gateway", "check", "--config", str(site), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok — site ampal-mufakat" in result.stdout  # its profiles were found in the installed package data
    python = str(gateway_box / "python")
    absent = subprocess.run([python, "-c", "import fastapi"], capture_output=True, timeout=60, check=False)
    assert absent.returncode == 1 and b"No module named 'fastapi'" in absent.stderr  # the box is really lean


@pytest.mark.services  # starts pantau in child processes
def test_a_gateway_only_install_names_the_extra_a_command_needs(gateway_box: Path, tmp_path: Path) -> None:
    listing = run_on_the_box(gateway_box, "--help", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "(not installed: pip install 'pantau[backend]')" in listing.stdout
    assert "The field gateway" in listing.stdout
    refused = run_on_the_box(gateway_box, "backend", "run", "--config", "backend.yaml", cwd=tmp_path)
    assert refused.returncode == 1
    assert "pip install 'pantau[backend]'" in refused.stderr and "Traceback" not in refused.stderr
