"""One line at the bottom: the proxy (running here, attached, off), live and total sessions."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from auditor.tui.proxy_link import ProxyState
from auditor.tui.safe_text import append_data


def status_text(state: ProxyState, live: int, total: int) -> Text:
    text = Text()
    style = {"running": "bold green", "attached": "bold cyan", "failed": "bold red"}
    text.append(" ● " if state.mode in ("running", "attached") else " ○ ", style.get(state.mode))
    append_data(text, state.describe())  # a proxy error may quote what a client sent
    text.append("  │  ")
    text.append(f"{live} live", style="bold red" if live else "")
    text.append(f" · {total:,} sessions")
    return text


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; }
    """

    def on_mount(self) -> None:
        for name in ("proxy_state", "live_count", "session_total"):
            self.watch(self.app, name, self._changed, init=False)
        self._changed()

    def _changed(self, *_: Any) -> None:
        app: Any = self.app
        self.update(status_text(app.proxy_state, app.live_count, app.session_total))
