"""How sessions and failures read in the TUI: sizes, durations, times."""

from __future__ import annotations

from datetime import datetime

from auditor.index import Session
from auditor.sizes import format_size


def size(n: int) -> str:
    return format_size(n)


def duration(seconds: float) -> str:
    whole = int(seconds)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def clock(seconds: float) -> str:
    """A position in a recording: ``m:ss.t``."""
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m)}:{s:04.1f}"


def when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def target(s: Session) -> str:
    node = s.node or "-"
    if s.port and s.port != 22:
        node = f"{node}:{s.port}"
    return f"{s.login or '-'}@{node}"


def exit_text(s: Session) -> str:
    if s.exit_signal:
        return f"sig {s.exit_signal}"
    return "-" if s.exit_status is None else str(s.exit_status)


def what(s: Session) -> str:
    return s.command or ("shell" if s.kind in (None, "session") else s.kind)


def sparkline(values: list[int]) -> str:
    """Activity as block characters, scaled to the largest bucket."""
    bars = " ▁▂▃▄▅▆▇█"
    top = max(values, default=0)
    if top == 0:
        return "·" * len(values)
    return "".join(bars[0 if v == 0 else max(1, round(v / top * 8))] for v in values)
