"""Legal truck limits as data: the JBI table and road class limits (`tables/*.yaml`), validated on load.

The figures live in YAML so a new decree is a data change; an `odol` rule may override rows or classes.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from backend.rules.inventory import RoadClass
from pantau.config import load_yaml_model

TABLES: Final = Path(__file__).parent / "tables"
#: JBI notation: groups joined by `-`, axles in a group by `.`, each axle `1` (single) or `2` (dual tyres).
AxleConfiguration = Annotated[str, StringConstraints(pattern=r"^[12](\.[12])*(-[12](\.[12])*)*$")]
Kg = Annotated[float, Field(gt=0, le=300_000)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JbiRow(_Table):
    configuration: AxleConfiguration
    jbi_kg: dict[int, Kg] = Field(min_length=1, description="MST of the road in kg -> JBI in kg")


class JbiTable(_Table):
    rows: list[JbiRow] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> JbiTable:
        seen = [row.configuration for row in self.rows]
        duplicates = sorted({c for c in seen if seen.count(c) > 1})
        if duplicates:
            raise ValueError(f"axle configurations listed twice: {', '.join(duplicates)}")
        return self

    def jbi_kg(self, configuration: str, mst_kg: int) -> float | None:
        """The permitted gross weight, None when the configuration or the MST column is not in the table."""
        for row in self.rows:
            if row.configuration == configuration:
                return row.jbi_kg.get(mst_kg)
        return None

    def merged(self, overrides: dict[str, dict[int, float]]) -> JbiTable:
        """This table with rows replaced or added (an `odol` rule's `jbi:` override)."""
        rows = {row.configuration: dict(row.jbi_kg) for row in self.rows}
        for configuration, columns in overrides.items():
            rows[configuration] = {**rows.get(configuration, {}), **columns}
        return JbiTable(rows=[JbiRow(configuration=c, jbi_kg=j) for c, j in rows.items()])


class ClassLimits(_Table):
    width_mm: int = Field(gt=0, le=6000)
    length_mm: int = Field(gt=0, le=40_000)
    height_mm: int = Field(gt=0, le=8000)
    mst_kg: int = Field(gt=0, le=30_000)


class RoadClasses(_Table):
    max_height_to_width: float = Field(gt=0, le=5)
    classes: dict[RoadClass, ClassLimits] = Field(min_length=1)

    def merged(self, overrides: dict[RoadClass, ClassLimits]) -> RoadClasses:
        """These limits with whole classes replaced (an `odol` rule's `road_classes:` override)."""
        return self.model_copy(update={"classes": {**self.classes, **overrides}})


@cache
def default_jbi() -> JbiTable:
    """`tables/jbi.yaml`, validated; raises pantau.config.ConfigError naming the file."""
    return load_yaml_model(TABLES / "jbi.yaml", JbiTable)


@cache
def default_road_classes() -> RoadClasses:
    """`tables/road_classes.yaml`, validated."""
    return load_yaml_model(TABLES / "road_classes.yaml", RoadClasses)


def groups_of(configuration: str) -> list[int]:
    """Axles per group of a configuration: `1-2.2-2.2` -> [1, 2, 2]."""
    return [len(re.split(r"\.", group)) for group in configuration.split("-")]
