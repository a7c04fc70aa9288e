"""Where a bench's report goes: `<out>/<date>-<name>.json` (every figure) and `.md` (for people), the
Markdown also printed, so a run in a terminal shows what it wrote."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_report(
    report: dict[str, Any], out: Path, name: str, markdown: Callable[[dict[str, Any]], str]
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{datetime.now(UTC):%Y-%m-%d}-{name}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    stem.with_suffix(".md").write_text(text)
    print("\n" + text)
    print(f"written: {stem}.md, {stem}.json")
