"""Serving the API inside a backend worker: uvicorn on the worker's event loop, as one more task.

The worker owns the process's signals (`pantau.process.run_until_signalled`), so uvicorn must not install
its own handlers; a cancelled task shuts the server down gracefully instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from typing import Final

import uvicorn
from fastapi import FastAPI

logger = logging.getLogger(__name__)

#: Requests in flight get this long to finish when the worker stops.
GRACEFUL_S: Final = 5.0


class ApiUnavailable(RuntimeError):
    """The API could not start (typically: its port is taken)."""


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield  # the worker handles SIGTERM/SIGINT and cancels this task


class ApiServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",  # the worker opens and closes storage, not the app
            log_config=None,  # the process's logging setup applies
            access_log=False,
            timeout_graceful_shutdown=int(GRACEFUL_S),
        )
        self.host, self.port = host, port
        self.server = _EmbeddedServer(config)

    @property
    def started(self) -> bool:
        return self.server.started

    async def run(self) -> None:
        try:
            await self.server.serve()
        except SystemExit as exc:  # uvicorn's answer to a failed bind
            raise ApiUnavailable(f"API cannot listen on {self.host}:{self.port} (see the log above)") from exc
        except asyncio.CancelledError:
            if self.server.started:
                self.server.should_exit = True
                await asyncio.shield(self.server.shutdown())
            raise
