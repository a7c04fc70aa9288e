"""The API's front door, ahead of routing and of any body reading (issue 16): FastAPI reads and parses a
request's body before it runs the dependencies that check the key, so an unauthenticated 50 MB POST was
read whole before its 401. Here, from the headers alone:

- a write (POST, PUT, PATCH, DELETE) without a valid key -> 401, body unread;
- a key that is not valid, on any route -> 401;
- a client address with too many failed keys -> 429 with Retry-After (anonymous reads of public routes
  still pass: the flood map stays up for everyone behind the same address);
- a body larger than its route's cap (by Content-Length) -> 413, unread; a chunked body -> 411 (uvicorn
  never hands the app more than the Content-Length it checked);
- a key writing too often -> 429 with Retry-After;
- more than `max_concurrency` requests in flight -> 503 with Retry-After: the API shares its process and
  event loop with ingest, which must not starve behind a crowd of slow queries.

Role checks (403) stay with the routes' dependencies, which know each route's role.
"""

from __future__ import annotations

import re
from typing import Final

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.api.auth import MAX_KEY_LENGTH, Caller, KeyRing
from backend.api.problems import problem_response
from backend.api.ratelimit import RateLimiter
from backend.config.api import Limits
from pantau.resilience import Clock

WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Paths where a key means something (the page's HTML and static files do not look at keys).
KEYED_PATHS: Final = ("/api/", "/metrics")
_ACKNOWLEDGE: Final = re.compile(r"^/api/v1/alerts/[^/]+/acknowledge/?$")
_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="pantau"'}
#: A refused request: status, detail, headers.
Refusal = tuple[int, str, dict[str, str]]


def presented_key(request: Request) -> str | None:
    """The key as auth.py reads it: `Authorization: Bearer <key>`, else `X-API-Key`."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-api-key")


class Guard:
    """ASGI middleware: the checks in the module docstring, on the kit's clock."""

    def __init__(self, app: ASGIApp, *, keys: KeyRing, limits: Limits, clock: Clock) -> None:
        self.app = app
        self.keys = keys
        self.caps = limits.body_bytes
        self.failures = RateLimiter(limits.failed_auth, clock, limits.max_clients)
        self.writes = RateLimiter(limits.writes, clock, limits.max_clients)
        self.max_concurrency = limits.max_concurrency
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = self._refusal(request)
        if refusal is None and self.in_flight >= self.max_concurrency:
            refusal = 503, "the API is busy; retry shortly", {"Retry-After": "1"}
        if refusal is None:
            self.in_flight += 1
            try:
                await self.app(scope, receive, send)
            finally:
                self.in_flight -= 1
            return
        status, detail, headers = refusal
        await problem_response(request, status, detail, headers=headers)(scope, receive, send)

    def _refusal(self, request: Request) -> Refusal | None:
        write = request.method in WRITE_METHODS
        key = presented_key(request) if request.url.path.startswith(KEYED_PATHS) or write else None
        if key is None and not write:
            return None  # an anonymous read: the route's dependency decides whether it is public
        refused, caller = self._authenticate(request, key)
        if refused is not None or caller is None or not write:
            return refused
        return self._body_refusal(request) or self._write_refusal(caller.name)

    def _authenticate(self, request: Request, key: str | None) -> tuple[Refusal | None, Caller | None]:
        client = request.client.host if request.client else "unknown"
        # Checked before the key: a locked address learns nothing, not even that it found a valid key.
        wait = self.failures.blocked(client)
        if wait is not None:
            return (429, "too many failed API keys from this address", {"Retry-After": str(wait)}), None
        caller = self.keys.identify(key) if key is not None and len(key) <= MAX_KEY_LENGTH else None
        if caller is not None:
            return None, caller
        self.failures.spend(client)
        if key is None:
            return (401, "an API key is required (Authorization: Bearer <key>)", _CHALLENGE), None
        return (401, "the API key is not valid", _CHALLENGE), None

    def _write_refusal(self, caller: str) -> Refusal | None:
        wait = self.writes.take(caller)
        if wait is not None:
            return 429, "too many writes with this key", {"Retry-After": str(wait)}
        return None

    def _body_refusal(self, request: Request) -> Refusal | None:
        cap = self.body_cap(request.url.path)
        if "transfer-encoding" in request.headers:
            return 411, "send the body with a Content-Length (no chunked uploads)", {}
        length = request.headers.get("content-length", "0")
        if not length.isdigit():
            return 400, "Content-Length is not a number", {}
        if int(length) > cap:
            return 413, f"the body may be at most {cap} bytes on this route", {}
        return None

    def body_cap(self, path: str) -> int:
        """The largest body the route at `path` accepts."""
        if path.rstrip("/") == "/api/v1/reports":
            return self.caps.reports
        if _ACKNOWLEDGE.match(path):
            return self.caps.acknowledge
        return self.caps.other
