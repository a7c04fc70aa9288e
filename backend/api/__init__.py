"""The HTTP API (FastAPI) other city services read pantau through: docs/api.md is the consumer guide.

Modules: `app` (factory), `config` (the `api:` section), `auth` (keys and roles), `problems` (RFC 9457
errors), `params` (validated query parameters), `rows` (paging), `csv`, `models` (bodies), `road_wear`
(ESAL), and one router per resource in `routes/`.

Errors::

    Problem            raised by routes: answered as application/problem+json with its status
    StorageUnavailable -> 503, StorageRejected -> 400, validation -> 422, anything else -> 500 (logged)

This package imports nothing itself: the backend's config reads `backend.config.api` (the `api:` section)
without loading FastAPI, so ingest and the rules service start without the web stack.
"""
