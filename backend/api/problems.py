"""Errors as RFC 9457 problem details (`application/problem+json`); never a stack trace to a client.

Routes raise `Problem`; FastAPI's own errors (validation, 404/405) and storage failures are turned into
problems here; anything else is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from backend.storage.model import StorageRejected, StorageUnavailable

logger = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"


class FieldError(BaseModel):
    location: str = Field(description="Where: `query.start`, `body.lat`, ...")
    message: str


class ProblemBody(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers
        self.errors = errors


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    headers: Mapping[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> JSONResponse:
    body = ProblemBody(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, headers=headers, media_type=PROBLEM_JSON
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)  # noqa: S101 - registered for Problem only
        return problem_response(request, exc.status, exc.detail, headers=exc.headers, errors=exc.errors)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for it only
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for it only
        errors = [field_error(error) for error in exc.errors()]
        detail = "; ".join(f"{e.location}: {e.message}" for e in errors[:5])
        return problem_response(request, 422, detail, errors=errors)

    async def on_unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("storage unavailable answering %s: %s", request.url.path, exc)
        return problem_response(
            request, 503, "storage is unavailable; retry later", headers={"Retry-After": "10"}
        )

    async def on_rejected(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("storage rejected the query for %s: %s", request.url.path, exc)
        return problem_response(request, 400, "the request cannot be answered with these parameters")

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unhandled error on %s", request.url.path, exc_info=exc)
        return problem_response(request, 500, "internal error; it has been logged")

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StorageUnavailable, on_unavailable)
    app.add_exception_handler(StorageRejected, on_rejected)
    app.add_exception_handler(Exception, on_unexpected)


def field_error(error: Any) -> FieldError:
    """One pydantic error as location + message; the offending input is not echoed back."""
    location = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return FieldError(location=location or "request", message=message)


#: Status codes every operation may answer with a problem (documented in the OpenAPI schema).
#: 411, 413 and 429 come from the front door (guard.py), before routing.
COMMON_PROBLEMS: Final = (400, 401, 403, 404, 406, 411, 413, 422, 429, 500, 503)
