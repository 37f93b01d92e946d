"""Durations as operators write them: ``90s``, ``30m``, ``12h``, ``7d``, ``1h30m``, ``500ms``."""

from __future__ import annotations

import re

from auditor.errors import UsageError

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|[smhdw])")


def parse_duration(text: str | int | float, what: str = "duration") -> float:
    """Seconds in ``text``; a bare number is seconds."""
    if isinstance(text, bool):
        raise UsageError(f"{what}: expected a duration like 90s, 30m, 12h or 7d; got {text!r}")
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        s = text.strip().lower()
        if re.fullmatch(r"\d+(?:\.\d+)?", s):
            seconds = float(s)
        else:
            pos, seconds = 0, 0.0
            for m in _PART.finditer(s):
                if m.start() != pos:
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2)]
                pos = m.end()
            if pos != len(s) or not s:
                raise UsageError(
                    f"{what}: expected a duration like 90s, 30m, 12h or 7d; got {text!r}"
                )
    if seconds <= 0:
        raise UsageError(f"{what}: must be greater than zero; got {text!r}")
    return seconds


def format_duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"
