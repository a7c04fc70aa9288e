"""Backslash escapes in config strings, so `'\\r\\n'` in single quotes means the same as `"\\r\\n"`.

YAML decodes escapes only in double-quoted strings; operators copying `\\x02` from a manual into a plain
or single-quoted scalar should get the byte they meant, not four characters.
"""

from __future__ import annotations

import re
from typing import Final

_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|.)", re.DOTALL)
_SIMPLE: Final = {"r": "\r", "n": "\n", "t": "\t", "0": "\x00", "\\": "\\"}


def decode_escapes(text: str) -> str:
    """Decode `\\r \\n \\t \\0 \\\\ \\xNN`; ValueError naming any other escape."""

    def replace(match: re.Match[str]) -> str:
        code = match.group(1)
        if code.startswith("x") and len(code) == 3:
            return chr(int(code[1:], 16))
        if code in _SIMPLE:
            return _SIMPLE[code]
        raise ValueError(f"unknown escape '\\{code}' in {text!r} (known: \\r \\n \\t \\0 \\\\ \\xNN)")

    return _ESCAPE.sub(replace, text)
