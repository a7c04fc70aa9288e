"""Storage rows as the API reads them: typed field access, and paging through time.

Paging is by time, not by offset: a page ends just before the first row it could not hold (the `cut`),
and the next page starts at the cut. Every series of the page is trimmed to the same cut, so pages neither
repeat nor skip a row however many series they hold, and a page stays correct while data is arriving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from backend.storage.model import FieldValue, Row, Series
from backend.storage.read_model import as_float


def reading_value(cells: Mapping[str, FieldValue | None]) -> int | float | None:
    """A reading's value: the exact integer where one was stored (`value_int`), else the float `value`."""
    exact = cells.get("value_int")
    if isinstance(exact, int) and not isinstance(exact, bool):
        return exact
    return as_float(cells.get("value"))


def cut_series(series: Sequence[Series], limit: int) -> tuple[list[Series], datetime | None]:
    """Each series was read with `limit + 1` rows from the page start: trim every series to the earliest
    row that did not fit; that row's time is where the next page starts (None: this is the last page)."""
    overflow = [s.rows[limit].time for s in series if len(s.rows) > limit]
    if not overflow:
        return list(series), None
    cut = min(overflow)
    return [Series(s.tags, [r for r in s.rows if r.time < cut]) for s in series], cut


def cut_merged(
    items: Sequence[tuple[Row, dict[str, str]]], limit: int
) -> tuple[list[tuple[Row, dict[str, str]]], datetime | None]:
    """Rows of several series merged in time order (each series read with `limit + 1` rows): at most about
    `limit` rows, ending before the first time that did not fit. Rows sharing that time go together."""
    ordered = sorted(items, key=_merge_order)
    if len(ordered) <= limit:
        return ordered, None
    cut = ordered[limit][0].time
    page = [item for item in ordered if item[0].time < cut]
    if not page:  # more than `limit` rows at one instant: take them all, continue just after
        page = [item for item in ordered if item[0].time == cut]
        cut += timedelta(microseconds=1)
    return page, cut


def _merge_order(item: tuple[Row, dict[str, str]]) -> tuple[datetime, list[tuple[str, str]]]:
    return item[0].time, sorted(item[1].items())
