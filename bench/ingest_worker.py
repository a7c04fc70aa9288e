"""One backend worker in a child process, for bench/ingest_throughput.py.

A process per worker, as in production: workers only scale past one core as processes (the GIL). The child
builds its BackendWorker (imports, config, spool) before the parent starts the clock, waits for `go`, then
runs it and publishes how many points it has stored and the CPU seconds it has used since `go`, until the
parent says `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_PANTAU_PACKAGES = frozenset({"pantau", "backend", "gateway", "drivers"})
#: How often the child reports its progress: the figures are read to within this much.
REPORT_EVERY_S = 0.01


@dataclass
class WorkerHandles:
    """The shared values and events of one child (multiprocessing objects, so typed loosely)."""

    points: Any  # multiprocessing.Value("q")
    cpu_s: Any  # multiprocessing.Value("d")
    ready: Any  # multiprocessing.Event
    go: Any
    stop: Any


def cpu_seconds() -> float:
    """User + system CPU of this process, all its threads (the spool and gzip run in threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_worker(config: dict[str, Any], handles: WorkerHandles, code_root: str | None = None) -> None:
    """The child's entry point (spawned). `code_root`, given, is another source tree of pantau to run (the
    baseline of an A/B comparison): nothing of pantau is imported before it goes first on the path."""
    if code_root is not None:
        # A spawned child imports the parent's main module (bench.ingest_throughput) before this runs, and
        # with it this build's pantau: forget those, so the imports below come from `code_root`.
        for name in [name for name in sys.modules if name.split(".")[0] in _PANTAU_PACKAGES]:
            del sys.modules[name]
        sys.path.insert(0, code_root)
    asyncio.run(_run(config, handles))


async def _run(config: dict[str, Any], handles: WorkerHandles) -> None:
    # Imported here, not at the top: only after `code_root` is first on the path.
    from backend.config import BackendConfig  # noqa: PLC0415
    from backend.worker import BackendWorker  # noqa: PLC0415

    print(f"worker {config['worker_id']} runs {sys.modules['backend.worker'].__file__}", flush=True)

    worker = BackendWorker(BackendConfig.model_validate(config))
    handles.ready.set()
    await asyncio.to_thread(handles.go.wait)
    started = cpu_seconds()
    task = asyncio.create_task(worker.run())
    try:
        while not handles.stop.is_set():
            handles.points.value = worker.writer.stats.points_written_total
            handles.cpu_s.value = cpu_seconds() - started
            if task.done():
                task.result()  # a worker that died says why
            await asyncio.sleep(REPORT_EVERY_S)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class WorkerPool:
    """Worker processes, started and made ready (not yet running) by the constructor."""

    def __init__(self, configs: list[dict[str, Any]], code_root: Path | None = None) -> None:
        context = multiprocessing.get_context("spawn")
        self.handles = [
            WorkerHandles(
                context.Value("q", 0),
                context.Value("d", 0.0),
                context.Event(),
                context.Event(),
                context.Event(),
            )
            for _ in configs
        ]
        root = str(code_root) if code_root else None
        self.children = [
            context.Process(target=run_worker, args=(config, handle, root))
            for config, handle in zip(configs, self.handles, strict=True)
        ]
        for child in self.children:
            child.start()
        for handle, child in zip(self.handles, self.children, strict=True):
            while not handle.ready.wait(0.1):
                if not child.is_alive():
                    self.stop()
                    raise RuntimeError("a bench worker did not start (its traceback is above)")

    def run_until(self, points: int, timeout: float) -> float:
        """Let the workers go; seconds until they have stored `points` between them."""
        started = time.perf_counter()
        for handle in self.handles:
            handle.go.set()
        while self.points() < points:
            if any(not child.is_alive() for child in self.children):
                raise RuntimeError("a bench worker died (its traceback is above)")
            if time.perf_counter() - started > timeout:
                raise TimeoutError(
                    f"the workers stored {self.points()} of {points} points in {timeout:.0f} s"
                )
            time.sleep(0.005)
        return time.perf_counter() - started

    def points(self) -> int:
        return int(sum(handle.points.value for handle in self.handles))

    def cpu_seconds(self) -> float:
        return float(sum(handle.cpu_s.value for handle in self.handles))

    def stop(self) -> None:
        for handle in self.handles:
            handle.stop.set()
        for child in self.children:
            child.join(30)
            if child.is_alive():
                child.kill()
