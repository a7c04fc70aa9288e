"""`pantau gateway run ...` exactly as a technician starts it, plus, at exit, the list of the packages the
process had imported (what its RSS is made of) and, with `--cprofile FILE`, a cProfile of the steady state:
SIGUSR1 starts it (after the start-up the bench does not measure), SIGUSR2 stops it and writes FILE.

Run: `python -m bench.gateway.launch MODULES_FILE [--cprofile FILE] -- gateway run --config ...`.
"""

from __future__ import annotations

import atexit
import signal
import sys
from pathlib import Path
from types import FrameType


def _write_modules(path: Path) -> None:
    top = sorted({name.partition(".")[0] for name in sys.modules if not name.startswith("_")})
    path.write_text("\n".join(top) + "\n")


def main(argv: list[str]) -> None:
    split = argv.index("--")
    options, pantau_args = argv[:split], argv[split + 1 :]
    atexit.register(_write_modules, Path(options[0]))
    if "--cprofile" in options:
        import cProfile  # noqa: PLC0415 - only when asked: it is memory the gateway does not have

        profiler = cProfile.Profile()
        out = options[options.index("--cprofile") + 1]

        # Signal handlers run in the main thread, the event loop's: the one the profile must see.
        def start(_signal: int, _frame: FrameType | None) -> None:
            profiler.enable()

        def stop(_signal: int, _frame: FrameType | None) -> None:
            profiler.disable()
            profiler.dump_stats(out)

        signal.signal(signal.SIGUSR1, start)
        signal.signal(signal.SIGUSR2, stop)
    from pantau.cli import main as pantau  # noqa: PLC0415 - imported here so the profile sees the imports

    sys.argv = ["pantau", *pantau_args]
    pantau()


if __name__ == "__main__":
    main(sys.argv[1:])
