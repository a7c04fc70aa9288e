"""HTTP to InfluxDB's v1 API (`/write`, `/query`, `/ping`), served by 1.x, 2.x (compatibility API) and 3.x.

Writes retry what is transient (connection errors, timeouts, 5xx, 429) with the kit's capped, jittered
back-off (`pantau.resilience.Backoff`), or after the server's `Retry-After`, until the caller's deadline;
then StorageUnavailable. Any other answer is returned for the writer to judge (400/413 are about the
points, see writer.py). Queries are tried once: a reader (an API request, a rule) has its own deadline.

Failures raise the storage errors of backend.storage.model: StorageUnavailable (transport, 5xx, 429,
refused credentials) and StorageRejected (InfluxQL errors, refused statements).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import random
from collections.abc import AsyncIterable, AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final

import httpx

from backend.storage.config import InfluxConfig
from backend.storage.influx.chunks import ChunkedResults
from backend.storage.model import StorageRejected, StorageUnavailable
from pantau.resilience import SYSTEM_CLOCK, Backoff, Clock, Outage

logger = logging.getLogger(__name__)

BACKOFF_BASE_S: Final = 0.1
BACKOFF_CAP_S: Final = 5.0
#: Bodies above this are compressed in a worker thread, so a big batch does not stall the event loop.
GZIP_IN_THREAD_BYTES: Final = 256 * 1024
#: Level 1: on line protocol (long repeated series keys) it compresses within a few % of level 5 at a third
#: of the CPU (bench/ingest_throughput.py), and CPU, not bytes, is what a busy worker runs out of.
GZIP_LEVEL: Final = 1
_ERROR_TEXT_CHARS: Final = 300
#: Rows per chunk of a query answer (influxd's own default): bounds one JSON line read at a time.
QUERY_CHUNK_ROWS: Final = 10_000


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a `Retry-After` header asks (delta-seconds or HTTP date); None if absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def json_lines(stream: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The non-blank lines of a chunked answer. Split on newline bytes only: a JSON text holds none, while
    str.splitlines (httpx's aiter_lines) would also split inside a string holding, say, U+001C or U+0085."""
    pending = bytearray()
    async for data in stream:
        # Only the new bytes can hold a newline: a long line arriving in many reads is scanned once.
        scan = len(pending)
        pending += data
        start = 0
        while (end := pending.find(b"\n", scan)) >= 0:
            if pending[start:end].strip():
                yield bytes(pending[start:end])
            start = scan = end + 1
        del pending[:start]
    if pending.strip():
        yield bytes(pending)


def _chunk(line: bytes, status: int, statement: str) -> dict[str, Any]:
    """One JSON object of a chunked answer; StorageRejected for a whole-answer error such as a bad query."""
    try:
        chunk = json.loads(line)
    except ValueError as exc:
        raise StorageUnavailable(
            f"InfluxDB answered a query with HTTP {status} and a chunk that is not JSON"
        ) from exc
    if not isinstance(chunk, dict):
        raise StorageUnavailable(
            f"InfluxDB answered a query with HTTP {status} and a chunk that is not an object"
        )
    if "error" in chunk:
        raise StorageRejected(f"InfluxDB refused {statement!r}: {chunk['error']}")
    return chunk


def is_transient(status: int) -> bool:
    return status == 429 or status >= 500


def error_text(response: httpx.Response) -> str:
    """The server's error message: InfluxDB's JSON `error`, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    text = response.text.strip()[:_ERROR_TEXT_CHARS]
    return text or response.reason_phrase


class InfluxHttp:
    """One connection pool to one InfluxDB; safe to share between tasks of one event loop."""

    def __init__(
        self, config: InfluxConfig, *, rng: random.Random | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._outage = Outage(f"InfluxDB writes to {config.url}", logger, clock)
        headers = {}
        auth: httpx.BasicAuth | None = None
        token = config.secret(config.token_env)
        if token is not None:
            # 2.x compatibility API and 3.x: a v2-style API token.
            headers["Authorization"] = f"Token {token.get_secret_value()}"
        elif config.username is not None:
            password = config.secret(config.password_env)
            auth = httpx.BasicAuth(config.username, password.get_secret_value() if password else "")
        self._http = httpx.AsyncClient(
            base_url=config.url.rstrip("/"),
            timeout=config.timeout.total_seconds(),
            verify=config.verify_tls,
            auth=auth,
            headers=headers,
        )

    async def post_write(self, body: bytes, retention_policy: str, deadline: float) -> httpx.Response:
        """POST /write, retrying transient failures until `deadline` (clock.monotonic()); returns the first
        answer that is not transient. Raises StorageUnavailable when the deadline passes."""
        params = {"db": self.config.database, "rp": retention_policy, "precision": "ns"}
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.config.gzip:
            headers["Content-Encoding"] = "gzip"
            if len(body) > GZIP_IN_THREAD_BYTES:
                body = await asyncio.to_thread(gzip.compress, body, GZIP_LEVEL)
            else:
                body = gzip.compress(body, GZIP_LEVEL)
        backoff = Backoff(base=BACKOFF_BASE_S, cap=BACKOFF_CAP_S, rng=self._rng)
        while True:
            wait: float | None = None
            try:
                response = await self._http.post("/write", params=params, content=body, headers=headers)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if not is_transient(response.status_code):
                    self._recovered()
                    return response
                problem = f"HTTP {response.status_code}: {error_text(response)}"
                wait = retry_after(response.headers.get("Retry-After"), self.clock.now())
            self._failing(problem)
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise StorageUnavailable(
                    f"InfluxDB write to {self.config.url} still failing after "
                    f"{self.config.retry_for.total_seconds():g} s of retries: {problem}"
                )
            delay = backoff.next_delay()
            await self.clock.sleep(min(wait if wait is not None else delay, remaining))

    async def query(self, statement: str) -> list[dict[str, Any]]:
        """Run InfluxQL (one or more statements separated by `;`) and return its `results`, times in ns.

        Asked for chunked (see chunks.py: a plain answer from influxd 1.6 cannot tell a whole long series
        from a truncated one) and read chunk by chunk, so the text of a large answer is never held whole."""
        form = {"q": statement, "db": self.config.database, "epoch": "ns"}
        form |= {"chunked": "true", "chunk_size": str(QUERY_CHUNK_ROWS)}
        answer = ChunkedResults(statement)
        try:
            async with self._http.stream("POST", "/query", data=form) as response:
                status = response.status_code
                if status != 200:
                    await response.aread()
                    raise self._query_failed(statement, response)
                async for line in json_lines(response.aiter_bytes()):
                    answer.add(_chunk(line, status, statement))
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise StorageUnavailable(f"InfluxDB query at {self.config.url} failed: {exc!r}") from exc
        return answer.results()

    def _query_failed(self, statement: str, response: httpx.Response) -> StorageUnavailable | StorageRejected:
        status = response.status_code
        if is_transient(status) or status in {401, 403}:
            return StorageUnavailable(f"InfluxDB answered a query with HTTP {status}: {error_text(response)}")
        return StorageRejected(f"InfluxDB refused {statement!r}: {error_text(response)}")

    async def ping(self) -> None:
        try:
            response = await self._http.get("/ping")
        except httpx.TransportError as exc:
            raise StorageUnavailable(f"InfluxDB at {self.config.url} does not answer: {exc!r}") from exc
        if not response.is_success:
            raise StorageUnavailable(f"InfluxDB ping answered HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._http.aclose()

    def _failing(self, problem: str) -> None:
        self._outage.failed(f"{problem} (retrying with back-off)")

    def _recovered(self) -> None:
        self._outage.recovered()
