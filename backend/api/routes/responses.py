"""OpenAPI response declarations shared by the routers."""

from __future__ import annotations

from typing import Any, Final

#: A 200 that may also be CSV (`format=csv` or `Accept: text/csv`).
CSV_OK: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}
}
