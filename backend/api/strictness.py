"""Every request as strict as docs/api.md promises, on every route: an unknown query parameter or a repeated
one that takes a single value is `422` (a typo never silently returns everything, `kind=a&kind=b` is never
silently the last), and an `Accept` header the operation cannot answer is `406`.

Both are checked against the operation's own entry in the OpenAPI document, so what the document lists is
exactly what the server takes: a route cannot accept a parameter it does not document, or the reverse.
Routes outside the document (the live page and its files) take no parameters at all.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Final

from fastapi import Request
from fastapi.routing import APIRoute

from backend.api.problems import FieldError, Problem

_ANY: Final = "*/*"


async def strict_request(request: Request) -> None:
    """An app-wide dependency: raises the 422 or 406 problem before the route's own work starts."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    operation = _operation(request, route)
    _check_query(request, _query_parameters(operation))
    if operation is not None:
        _check_accept(request, _media_types(operation))


def _operation(request: Request, route: APIRoute) -> dict[str, Any] | None:
    """The route's operation in the OpenAPI document. The route knows its path only below the prefix it was
    included under (`/sites/{site}`), so the prefix is what the request path has in front of it."""
    if not route.include_in_schema:
        return None
    below = route.path_format.format_map(request.path_params)
    path: str = request.scope["path"]
    if not path.endswith(below):
        return None
    paths = request.app.openapi().get("paths", {})
    found: dict[str, Any] | None = paths.get(path[: len(path) - len(below)] + route.path_format, {}).get(
        request.method.lower()
    )
    return found


def _query_parameters(operation: dict[str, Any] | None) -> dict[str, bool]:
    """Documented query parameter -> whether it may be repeated (its schema is an array)."""
    if operation is None:
        return {}
    return {
        p["name"]: _is_array(p.get("schema", {}))
        for p in operation.get("parameters", [])
        if p.get("in") == "query"
    }


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_array(s) for s in schema.get("anyOf", []))


def _check_query(request: Request, documented: dict[str, bool]) -> None:
    counts = Counter(name for name, _ in request.query_params.multi_items())
    errors = [
        FieldError(location=f"query.{name}", message=_unknown(documented))
        for name in counts
        if name not in documented
    ]
    errors += [
        FieldError(location=f"query.{name}", message=f"given {n} times; it takes one value")
        for name, n in counts.items()
        if n > 1 and name in documented and not documented[name]
    ]
    if errors:
        detail = "; ".join(f"{e.location}: {e.message}" for e in errors[:5])
        raise Problem(422, detail, errors=errors)


def _unknown(documented: dict[str, bool]) -> str:
    if not documented:
        return "unknown parameter; this operation takes none"
    return f"unknown parameter; this operation takes {', '.join(sorted(documented))}"


def _media_types(operation: dict[str, Any]) -> list[str]:
    """What the operation's success responses can be (`application/json`, `text/csv`, ...)."""
    return [
        media_type
        for status, response in operation.get("responses", {}).items()
        if str(status).startswith("2")
        for media_type in response.get("content", {})
    ]


def _check_accept(request: Request, offered: list[str]) -> None:
    header = request.headers.get("accept", "").strip()
    if not header or not offered:
        return
    wanted = [_media_range(part) for part in header.split(",") if part.strip()]
    if any(q > 0 and _matches(pattern, media) for pattern, q in wanted for media in offered):
        return
    raise Problem(406, f"this operation answers {', '.join(offered)}; the Accept header allows none of them")


def _media_range(text: str) -> tuple[str, float]:
    """`text/csv;q=0.5` -> ("text/csv", 0.5); an unreadable weight counts as 0 (not acceptable)."""
    kind, *parameters = (piece.strip() for piece in text.split(";"))
    q = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return kind.lower(), q


def _matches(pattern: str, media_type: str) -> bool:
    if pattern == _ANY:
        return True
    major, _, minor = pattern.partition("/")
    offered_major, _, offered_minor = media_type.lower().partition("/")
    return major == offered_major and minor in ("*", offered_minor)
