"""A package's face that imports a module of the package only when one of its names is first used.

`from pantau.contract.fields import Slug` runs `pantau/contract/__init__.py` first, as any import of a
submodule does. A face that imports everything it hands on makes that cost every message model, though the
site and profile models want one field type: `pantau gateway check` paid for it at every start. A lazy face
keeps `from pantau.contract import Readings` working while a submodule import loads only that submodule.

In the package's `__init__.py` (mypy reads the imports under TYPE_CHECKING, Python the lazy lookup)::

    if TYPE_CHECKING:
        from pantau.contract.codec import decode, encode
    __all__ = ["decode", "encode"]
    if not TYPE_CHECKING:
        __getattr__ = lazy_face(__name__, {"codec": ("decode", "encode")})

The lookup is defined for Python only, so mypy never takes the face for a module that has every name.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence


def lazy_face(package: str, homes: Mapping[str, Sequence[str]]) -> Callable[[str], object]:
    """The module `__getattr__` (PEP 562) of `package`, whose names live in the submodules `homes` maps
    each to (`{"codec": ("decode", "encode")}`): the first use imports the submodule and keeps the name
    on the package, so later uses are plain attribute reads."""
    home_of = {name: f"{package}.{module}" for module, names in homes.items() for name in names}

    def look_up(name: str) -> object:
        try:
            home = home_of[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(home), name)
        setattr(sys.modules[package], name, value)
        return value

    return look_up
