"""The application factory: routers under /api/v1, auth, problem details, CORS, metrics, OpenAPI at /docs."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any, Final

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.routing import APIRoute
from prometheus_client import CollectorRegistry, Counter, Histogram

from backend.api import page, problems
from backend.api.auth import SECURITY_SCHEMES, Access, KeyRing
from backend.api.context import ApiContext, ReadinessCheck
from backend.api.guard import Guard
from backend.api.problems import COMMON_PROBLEMS, PROBLEM_JSON, ProblemBody
from backend.api.routes import alerts, health, latest, reports, series, vehicles
from backend.api.routes import inventory as inventory_routes
from backend.api.strictness import strict_request
from backend.config import DEFAULT_CLOCK_SKEW
from backend.config.api import ApiConfig
from backend.inventory import SiteInventory
from backend.rules_service.alert_book import AlertBook
from backend.storage.model import Storage
from pantau.resilience import SYSTEM_CLOCK, Clock

PREFIX: Final = "/api/v1"


def create_app(
    settings: ApiConfig,
    storage: Storage,
    inventory: SiteInventory,
    alerts_book: AlertBook | None,
    readiness_checks: Mapping[str, ReadinessCheck] | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    instance: str = "api",
    registry: CollectorRegistry | None = None,
    timer: Clock = SYSTEM_CLOCK,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> FastAPI:
    """The API over one storage; `readiness_checks` (e.g. the MQTT subscription) join storage in /ready.
    `instance` (a slug, e.g. the worker id) tags citizen reports this process stores; `timer` is the
    rate limiters' clock."""
    ctx = ApiContext(
        settings=settings,
        storage=storage,
        inventory=inventory,
        alerts=alerts_book,
        keys=KeyRing(settings),
        clock=clock or SYSTEM_CLOCK.now,
        readiness_checks=dict(readiness_checks or {}),
        instance=instance,
        clock_skew=clock_skew,
    )
    app = FastAPI(
        dependencies=[Depends(strict_request)],  # unknown/repeated parameters 422, unacceptable Accept 406
        title="pantau API",
        version="1",
        summary="Flood early warning and truck overload (ODOL) data of Balikpapan",
        # Served by `_documentation` as routes of the app, so they are as strict as every other route.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    problems.install(app)
    # Keys, body sizes and rates are checked before anything reads a body (inside metrics and CORS, so
    # refusals are counted and carry CORS headers).
    app.add_middleware(Guard, keys=ctx.keys, limits=settings.limits, clock=timer)
    metrics = registry or CollectorRegistry()
    _instrument(app, metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Accept"],
            expose_headers=["Link"],
        )
    routers = [
        (module.router(ctx), PREFIX) for module in (inventory_routes, latest, series, vehicles, alerts)
    ]
    routers += [(reports.router(ctx), PREFIX), (health.router(ctx), PREFIX)]
    routers += [(health.metrics_router(ctx, metrics), "")]
    routers += [(page.router(ctx), "")]  # the live page: /, /static/..., /api/v1/page/bands
    routers += [(_documentation(app), "")]  # /openapi.json, /docs
    access: dict[tuple[str, str], Access] = {}
    for router, prefix in routers:
        access |= _access(router, prefix, ctx.keys)
        app.include_router(router, prefix=prefix)
    app.openapi = lambda: _openapi(app, access)  # type: ignore[method-assign]
    return app


def _documentation(app: FastAPI) -> APIRouter:
    """/openapi.json and the interactive docs at /docs. FastAPI's own (`openapi_url`, `docs_url`) are plain
    Starlette routes, which the app's dependencies never reach: `/openapi.json?knid=x` answered 200, while
    docs/api.md promises 422 for an unknown parameter on every route."""
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    return router


def _instrument(app: FastAPI, registry: CollectorRegistry) -> None:
    requests = Counter(
        "pantau_api_requests",
        "API requests by route and status",
        ["method", "route", "status"],
        registry=registry,
    )
    latency = Histogram("pantau_api_request_seconds", "API request latency", ["route"], registry=registry)

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # The endpoint's name (`series`, `vehicles`...): bounded labels, unlike raw paths.
        route = str(getattr(request.scope.get("route"), "name", "unmatched"))
        requests.labels(request.method, route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - started)
        return response


def _openapi(app: FastAPI, access: dict[tuple[str, str], Access]) -> dict[str, Any]:
    """The generated schema with every error documented as application/problem+json and each operation's
    `security` as the key ring applies it (FastAPI states none for routes readable without a key)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    schema["components"] = schema.get("components", {}) | {"securitySchemes": SECURITY_SCHEMES}
    for (path, method), granted in access.items():
        schema["paths"][path][method]["security"] = granted.security()
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    defs = ProblemBody.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(defs.pop("$defs", {}))
    components["Problem"] = defs
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    problem = {"content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status in COMMON_PROBLEMS:
                responses[str(status)] = {"description": _phrase(status)} | problem
    app.openapi_schema = schema
    return schema


def _access(router: APIRouter, prefix: str, keys: KeyRing) -> dict[tuple[str, str], Access]:
    """(path, method) -> the access the key ring grants, for every documented route of `router`: found in
    the router's `dependencies=` or among a route's own dependencies at any depth (a parameter such as
    `caller: Annotated[Caller, Depends(...)]`)."""
    found: dict[tuple[str, str], Access] = {}
    on_router = [keys.access[d.dependency] for d in router.dependencies if d.dependency in keys.access]
    for route in router.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        granted = on_router[0] if on_router else _access_in(route.dependant, keys)
        for method in route.methods or ():
            if granted is not None:
                found[(prefix + route.path_format, method.lower())] = granted
    return found


def _access_in(dependant: Dependant, keys: KeyRing) -> Access | None:
    pending = [dependant]
    while pending:
        current = pending.pop()
        if current.call in keys.access:
            return keys.access[current.call]
        pending.extend(current.dependencies)
    return None


def _phrase(status: int) -> str:
    return HTTPStatus(status).phrase
