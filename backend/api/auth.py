"""API keys: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against SHA-256 digests.

A key is a high-entropy secret, so one SHA-256 is enough (no dictionary to attack); every configured digest
is compared in constant time, so timing tells nothing about which key nearly matched. Missing or unknown
key -> 401; a known key whose role is too low -> 403. A route group listed in `public` lets anonymous
callers read it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from backend.api.problems import Problem
from backend.config.api import ApiConfig, Role, RouteGroup

_CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="pantau"'}
#: A longer header is not a key of ours: refused before hashing.
MAX_KEY_LENGTH: Final = 256

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")
#: The OpenAPI security schemes, by the names FastAPI gives them.
SECURITY_SCHEMES: Final = {
    "HTTPBearer": _bearer.model.model_dump(mode="json", by_alias=True, exclude_none=True),
    "APIKeyHeader": _header.model.model_dump(mode="json", by_alias=True, exclude_none=True),
}


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call an operation: its route group, the least role, and whether no key will do."""

    group: RouteGroup
    minimum: Role
    anonymous: bool

    def security(self) -> list[dict[str, list[str]]]:
        """The OpenAPI `security` of the operation (OpenAPI 3.1 lets non-OAuth schemes list roles);
        `{}` first when a caller without a key is admitted."""
        role = [self.minimum.name.lower()]
        keyed = [{scheme: role} for scheme in SECURITY_SCHEMES]
        return [{}, *keyed] if self.anonymous else keyed


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: a key's name and role, or `anonymous` on a public route."""

    name: str
    role: Role | None


ANONYMOUS: Final = Caller("anonymous", None)


class KeyRing:
    def __init__(self, config: ApiConfig) -> None:
        self._keys = [(key.digest(), key.name, key.level) for key in config.keys]
        self.public = frozenset(config.public)
        #: Each dependency this ring made -> the access it grants (the OpenAPI document states it).
        self.access: dict[Callable[..., Awaitable[Caller]], Access] = {}

    def identify(self, presented: str) -> Caller | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).hexdigest()
        found = None
        for expected, name, role in self._keys:  # all compared: the time does not depend on the match
            if hmac.compare_digest(digest, expected):
                found = Caller(name, role)
        return found

    def dependency(self, group: RouteGroup, minimum: Role) -> Callable[..., Awaitable[Caller]]:
        """A FastAPI dependency admitting callers with at least `minimum` (anyone, for public reads)."""
        anonymous_ok = minimum is Role.READ and group in self.public

        async def caller(
            request: Request,
            bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
            header: Annotated[str | None, Depends(_header)],
        ) -> Caller:
            presented = bearer.credentials if bearer is not None else header
            if presented is None:
                if anonymous_ok:
                    return ANONYMOUS
                raise Problem(401, "an API key is required (Authorization: Bearer <key>)", headers=_CHALLENGE)
            if len(presented) > MAX_KEY_LENGTH:
                raise Problem(401, "the API key is not valid", headers=_CHALLENGE)
            found = self.identify(presented)
            if found is None:
                raise Problem(401, "the API key is not valid", headers=_CHALLENGE)
            assert found.role is not None  # noqa: S101 - keys always have a role
            if found.role < minimum:
                raise Problem(403, f"this call needs the '{minimum.name.lower()}' role")
            request.state.caller = found
            return found

        async def public(request: Request) -> Caller:
            # Public groups do not ask for a key in the OpenAPI schema; a presented key still identifies.
            presented = request.headers.get("x-api-key")
            authorization = request.headers.get("authorization", "")
            if presented is None and authorization.lower().startswith("bearer "):
                presented = authorization[7:].strip()
            if presented is None:
                return ANONYMOUS
            if len(presented) > MAX_KEY_LENGTH or (found := self.identify(presented)) is None:
                raise Problem(401, "the API key is not valid", headers=_CHALLENGE)
            return found

        chosen = public if anonymous_ok else caller
        self.access[chosen] = Access(group, minimum, anonymous_ok)
        return chosen


def hash_key(key: str) -> str:
    """The digest to put in `key_sha256` for a key."""
    return hashlib.sha256(key.encode()).hexdigest()
