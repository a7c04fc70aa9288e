"""Private parts of other code are reached in one module only: pantau.mqtt.internals.

A private attribute of a third-party object (`client._client`, `paho._packet_queue`) is load-bearing
behaviour its library may move in any release; the one module that reaches them is checked against the
real libraries (test_internals.py). Anywhere else `x._name` on anything but `self`/`cls` fails here, so a
new reach inside a library goes through the adapter. (The demo broker's overrides of amqtt are a subclass's
own members, `self._name`: its module lists and checks them, pantau_demo/broker.py.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("pantau", "pantau_demo", "gateway", "drivers", "backend")
SEAM = "pantau/mqtt/internals.py"


def own_instances(tree: ast.Module) -> set[str]:
    """Variables bound to an instance of a class of this module (`engine = cls(...)`): its own privates."""
    classes = {node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)} | {"cls"}
    return {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id in classes
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def private_reaches(path: Path) -> list[str]:
    """`x._name` where x is not self, cls, super() or an instance of the module's own class (ruff's SLF001
    rule, which pyproject does not enable for the whole code)."""
    tree = ast.parse(path.read_text(), str(path))
    own = own_instances(tree) | {"self", "cls"}
    found = []
    for node in ast.walk(tree):
        if by_name := _reflective(node):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {by_name}")
            continue
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in own:
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
            continue
        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def _reflective(node: ast.AST) -> str | None:
    """`getattr(x, "_name")` and its kin: the same reach, spelled as a string."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"getattr", "setattr", "hasattr", "delattr"}
        and len(node.args) >= 2
    ):
        return None
    owner, name = node.args[0], node.args[1]
    if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
        return None
    private = isinstance(name, ast.Constant) and isinstance(name.value, str) and name.value[:1] == "_"
    return ast.unparse(node) if private and not name.value.startswith("__") else None


def test_only_the_mqtt_adapter_reaches_into_private_parts() -> None:
    found = [
        reach
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() != SEAM
        for reach in private_reaches(path)
    ]
    assert not found, "private parts reached outside pantau.mqtt.internals:\n" + "\n".join(found)


def test_the_adapter_does_reach_them_so_this_check_sees_what_it_looks_for() -> None:
    reaches = private_reaches(ROOT / SEAM)
    assert any("._packet_queue" in r for r in reaches), reaches
