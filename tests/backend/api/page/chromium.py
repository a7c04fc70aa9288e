"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket), for tests of web pages.

Debian's `chromium` package, no browser download: Chromium writes the port it picked to
`DevToolsActivePort` in its profile directory; we attach to its first tab, navigate, evaluate JavaScript
and capture screenshots. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from tests.harness.binaries import require_binary


class CdpError(RuntimeError):
    """A DevTools command failed, or the browser went away."""


@dataclass
class Tab:
    """One page target; `events` collects what the page reported (exceptions, console errors)."""

    socket: websockets.ClientConnection
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def send(self, method: str, params: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[ident] = future
        await self.socket.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        async with asyncio.timeout(timeout):
            reply = await future
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def read(self) -> None:
        async for raw in self.socket:
            message = json.loads(raw)
            if "id" in message:
                future = self.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            else:
                self._event(message["method"], message.get("params", {}))
        for future in self.pending.values():
            if not future.done():
                future.set_exception(CdpError("the browser closed the connection"))

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            description = details.get("exception", {}).get("description") or details.get("text")
            self.errors.append(f"exception: {description}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append("console.error: " + " ".join(str(a.get("value")) for a in params["args"]))

    async def evaluate(self, expression: str) -> Any:
        """The JSON value of `expression` in the page (awaited when it is a promise)."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> Any:
        """Evaluate until truthy; CdpError naming `what` and the page's errors at the deadline."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise CdpError(
                    f"timed out after {timeout:.0f} s waiting for {what}; page errors: {self.errors}"
                )
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> bytes:
        """The whole page (not only the viewport) as PNG, written to `path`."""
        result = await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        data = base64.b64decode(result["data"])
        await asyncio.to_thread(_write, path, data)
        return data


@contextlib.asynccontextmanager
async def chromium(profile: Path, width: int = 1440, height: int = 1200) -> AsyncIterator[Tab]:
    """A headless Chromium with a fresh profile in `profile`; yields its first tab, ready to navigate."""
    binary = require_binary("chromium", "chromium")
    await asyncio.to_thread(profile.mkdir, parents=True, exist_ok=True)
    command = [
        binary,
        "--headless=new",
        # The tests (and CI) run as root in a container, where Chromium's sandbox cannot start (it needs an
        # unprivileged user for its namespaces); the browser only loads our own page from 127.0.0.1.
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",  # no update checks, no component downloads: loopback only
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
        "--hide-scrollbars",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--lang=en-US",
        "about:blank",
    ]
    log = (profile.parent / "chromium.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220 - returns at once
    try:
        port = await _devtools_port(profile / "DevToolsActivePort", process)
        async with httpx.AsyncClient(timeout=10) as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        page = next(t for t in targets if t["type"] == "page")
        async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as socket:
            tab = Tab(socket)
            reader = asyncio.create_task(tab.read(), name="cdp-reader")
            try:
                for domain in ("Page", "Runtime", "Log"):
                    await tab.send(f"{domain}.enable")
                await tab.send(
                    "Emulation.setDeviceMetricsOverride",
                    {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
                )
                yield tab
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        log.close()


async def _devtools_port(path: Path, process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        lines = await asyncio.to_thread(_lines, path)
        if lines and lines[0].isdigit():
            return int(lines[0])
        if process.poll() is not None:
            raise CdpError(f"chromium exited with {process.returncode} before opening DevTools")
        if asyncio.get_running_loop().time() > deadline:
            raise CdpError(f"chromium opened no DevTools port within {timeout:.0f} s")
        await asyncio.sleep(0.05)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def navigate(tab: Tab, url: str, timeout: float = 30) -> None:
    """Open `url` and wait until its document has loaded."""
    result = await tab.send("Page.navigate", {"url": url}, timeout=timeout)
    if result.get("errorText"):
        raise CdpError(f"{url}: {result['errorText']}")
    await tab.wait_for("document.readyState === 'complete'", timeout, f"{url} to load")
