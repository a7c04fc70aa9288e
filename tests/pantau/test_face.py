"""The lazy package faces (pantau.face): every name a face lists is the object its module defines, the
face's table and its __all__ name the same things, and a name it does not have fails as a missing
attribute does. What a face leaves unloaded is checked in a fresh interpreter (test_layers.py)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

import drivers.serial_records
import pantau.contract
from pantau.face import lazy_face

FACES = [pantau.contract, drivers.serial_records]


@pytest.mark.parametrize("face", FACES, ids=lambda face: face.__name__)
def test_every_name_on_the_face_is_its_modules_own(face: ModuleType) -> None:
    homes: dict[str, tuple[str, ...]] = face._HOMES
    listed = sorted(name for names in homes.values() for name in names)
    assert listed == sorted(face.__all__)
    for module, names in homes.items():
        home = importlib.import_module(f"{face.__name__}.{module}")
        for name in names:
            assert getattr(face, name) is getattr(home, name), name


@pytest.mark.parametrize("face", FACES, ids=lambda face: face.__name__)
def test_a_name_the_face_does_not_have_is_a_missing_attribute(face: ModuleType) -> None:
    with pytest.raises(AttributeError, match=rf"module '{face.__name__}' has no attribute 'Readingz'"):
        _ = face.Readingz


def test_a_name_whose_module_has_not_got_it_fails_at_first_use() -> None:
    # A table that names the wrong module fails where the name is used, naming it (test above: every
    # shipped table is right).
    look_up = lazy_face("pantau.contract", {"codec": ("Readings",)})
    with pytest.raises(AttributeError, match="Readings"):
        look_up("Readings")
