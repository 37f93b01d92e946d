"""Where playback is in a recording: position, length, speed, search hits; click to seek."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from auditor.tui.readable import clock


@dataclass(frozen=True)
class TimelineState:
    position: float = 0.0
    cited: float = 0.0  # the position as its moment cites it (Playback.moment_t)
    duration: float = 0.0
    playing: bool = False
    speed: float = 1.0
    following: bool = False
    live: bool = False
    hits: tuple[float, ...] = field(default_factory=tuple)
    hit: int | None = None  # index of the current hit
    moment: str = ""  # the reference of the position (ID@T), shown at the end


class Timeline(Widget):
    DEFAULT_CSS = """
    Timeline { height: 1; width: 1fr; }
    """

    state: reactive[TimelineState] = reactive(TimelineState)

    class Seek(Message):
        """The user clicked a moment on the timeline."""

        def __init__(self, t: float) -> None:
            super().__init__()
            self.t = t

    def _prefix(self, s: TimelineState) -> str:
        icon = "▶" if s.playing else "⏸"
        return f" {icon} {clock(s.position)} / {clock(s.duration)} "

    def _suffix(self, s: TimelineState) -> str:
        parts = [f" {s.speed:g}x"]
        if s.hits:
            at = "-" if s.hit is None else str(s.hit + 1)
            parts.append(f"hit {at}/{len(s.hits)}")
        if s.following:
            parts.append("FOLLOWING")
        elif s.live:
            parts.append("LIVE")
        if s.moment:
            parts.append(s.moment)
        return "  ".join(parts) + " "

    def _bar_span(self) -> tuple[int, int]:
        s = self.state
        start = len(self._prefix(s))
        width = max(self.size.width - start - len(self._suffix(s)), 1)
        return start, width

    def render(self) -> Text:
        s = self.state
        _, width = self._bar_span()
        fraction = s.position / s.duration if s.duration > 0 else 0.0
        filled = min(int(fraction * width), width)
        bar = ["━"] * filled + ["─"] * (width - filled)
        for t in s.hits:
            x = min(int(t / s.duration * width), width - 1) if s.duration > 0 else 0
            bar[x] = "◆"
        if filled < width:
            bar[filled] = "●"
        text = Text(self._prefix(s), style="bold")
        text.append("".join(bar[:filled]), style="bold cyan")
        text.append("".join(bar[filled:]), style="grey50")
        text.append(self._suffix(s), style="bold red" if s.following else "")
        return text

    def on_click(self, event: events.Click) -> None:
        start, width = self._bar_span()
        x = event.x - start
        if 0 <= x < width and self.state.duration > 0:
            self.post_message(self.Seek(x / max(width - 1, 1) * self.state.duration))
