"""CSV output: one header line, one line per row, times in RFC 3339 UTC, empty cells for absent values.

Text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`:
citizens' notes and photo URLs are public input and must not become formulas on an operator's desktop.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Final

from fastapi.responses import Response

from backend.api.params import rfc3339

CSV_MEDIA_TYPE: Final = "text/csv; charset=utf-8"
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, float | int):
        return repr(value) if isinstance(value, float) else str(value)
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def render(columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in columns])
    return out.getvalue()


def csv_response(
    columns: Sequence[str], rows: Iterable[Mapping[str, object]], next_url: str | None = None
) -> Response:
    """A CSV answer; the next page, if any, in a `Link: <...>; rel="next"` header."""
    headers = {"Link": f'<{next_url}>; rel="next"'} if next_url else None
    return Response(render(columns, rows), media_type=CSV_MEDIA_TYPE, headers=headers)
