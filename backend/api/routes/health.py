"""Liveness, readiness (storage answers, plus the checks the process passes in: e.g. the broker) and
Prometheus metrics of the API itself."""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from backend.api.context import ApiContext
from backend.api.models import Health
from backend.api.problems import Problem
from backend.config.api import Role

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S: Final = 5.0


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(tags=["health"], dependencies=[Depends(ctx.keys.dependency("health", Role.READ))])

    @api.get("/health/live", response_model=Health)
    async def live() -> Health:
        """The process answers."""
        return Health(status="ok")

    @api.get("/health/ready", response_model=Health)
    async def ready() -> Health:
        """Storage and every configured dependency answer; 503 naming the failing ones otherwise."""
        checks = {"storage": ctx.storage.ping, **ctx.readiness_checks}
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                async with asyncio.timeout(CHECK_TIMEOUT_S):
                    await check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure of a check means "not ready"
                logger.warning("readiness check %s failed: %s", name, exc)
                results[name] = "failing"
        failing = sorted(name for name, state in results.items() if state != "ok")
        if failing:
            raise Problem(503, f"not ready: {', '.join(failing)} failing", headers={"Retry-After": "10"})
        return Health(status="ok", checks=results)

    return api


def metrics_router(ctx: ApiContext, registry: CollectorRegistry) -> APIRouter:
    api = APIRouter(tags=["health"], dependencies=[Depends(ctx.keys.dependency("metrics", Role.READ))])

    @api.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Metrics"}
        },
    )
    async def metrics() -> Response:
        """Prometheus text format: requests by route and status, latency."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return api
