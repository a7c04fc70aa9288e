"""What installing pantau with an extra brings, worked out as pip does, without an index.

pip installs the requirements of pantau and the extras asked for, then theirs, each marker evaluated for
this interpreter and the extras asked of that distribution. `closure` follows the same graph through the
metadata of the distributions installed here (the dev environment holds every extra), so the answer needs
no network and takes milliseconds; a requirement this environment does not satisfy fails it, named.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Final

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from tests.deploy.compose import REPO

PROJECT: Final = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
NAME: Final = canonicalize_name(PROJECT["name"])
OWN_PACKAGES: Final = ("pantau", "pantau_demo", "gateway", "drivers", "backend")


def requirements(extras: Iterable[str]) -> list[Requirement]:
    """pantau's base requirements and those of `extras`, its own extras (`pantau[gateway]`) expanded."""
    found = [Requirement(text) for text in PROJECT["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in PROJECT["optional-dependencies"][extra]:
            requirement = Requirement(text)
            if canonicalize_name(requirement.name) == NAME:
                todo.extend(requirement.extras)
            else:
                found.append(requirement)
    return found


def closure(extras: Iterable[str]) -> dict[NormalizedName, metadata.Distribution]:
    """Every distribution `pip install 'pantau[extras]'` installs besides pantau, by normalized name."""
    found: dict[NormalizedName, metadata.Distribution] = {}
    todo: list[tuple[Requirement, set[str]]] = [(r, {""}) for r in requirements(extras)]
    while todo:
        requirement, asked = todo.pop()
        if requirement.marker is not None and not any(
            requirement.marker.evaluate({"extra": e}) for e in asked
        ):
            continue
        name = canonicalize_name(requirement.name)
        distribution = metadata.distribution(name)  # PackageNotFoundError: the environment lacks it
        version = distribution.version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{requirement}: this environment has {name} {version}; `make` installs what pyproject.toml asks"
        )
        if name in found:
            continue  # its extras were followed the first time; pantau asks none of a shared dependency
        found[name] = distribution
        todo += [(Requirement(t), {"", *requirement.extras}) for t in distribution.requires or ()]
    return found


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def top_level_entries(distribution: metadata.Distribution) -> set[str]:
    """The names a distribution puts in site-packages (packages, modules, its .dist-info), from RECORD."""
    entries = set()
    for file in distribution.files or ():
        first = file.parts[0]
        if first not in {"..", "__pycache__"}:
            entries.add(first)
    return entries


def imported_libraries(folder: Path) -> Iterator[tuple[str, Path]]:
    """The top-level name of every absolute import under `folder`, deferred ones inside functions included
    (a command imports its libraries when it runs), other than pantau's own and the standard library."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in OWN_PACKAGES and top not in STDLIB and top != "__future__":
                    yield top, path


STDLIB: Final = sys.stdlib_module_names
