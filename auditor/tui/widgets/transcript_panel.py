"""The transcript beside the replay: the session's lines as ``replay --format text``
gives them, the line at the current time highlighted; Enter or a click jumps there."""

from __future__ import annotations

import bisect

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from auditor.tui.safe_text import data_text


class TranscriptPanel(OptionList):
    DEFAULT_CSS = """
    TranscriptPanel { display: none; width: 56; height: 1fr; border: round $panel-lighten-2; }
    TranscriptPanel.-shown { display: block; }
    TranscriptPanel:focus { border: round $accent; }
    """
    BINDINGS = [Binding("escape", "leave", "Back to the terminal", show=False)]

    class Chosen(Message):
        """Replay from when this line stood on the screen."""

        def __init__(self, t: float, line: str) -> None:
            super().__init__()
            self.t, self.line = t, line

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.lines: list[tuple[float, str]] = []
        self.times: list[float] = []
        self.border_title = "transcript (t)"
        self.can_focus = False  # focused on request (t): the screen's keys are playback keys

    def enter(self) -> None:
        self.can_focus = True
        self.focus()

    def show(self, lines: list[tuple[float, str]]) -> None:
        self.lines = lines
        self.times = [t for t, _ in lines]
        self.clear_options()
        if not lines:
            self.add_option(Option(Text("nothing printed", style="dim"), disabled=True))
            return
        # The session's own text: data, never markup, controls shown as escapes.
        self.add_options(Option(data_text(line or " ")) for _, line in lines)

    def line_at(self, t: float) -> int | None:
        """The last line on screen by ``t`` (None before the first)."""
        i = bisect.bisect_right(self.times, t + 1e-6) - 1
        return i if i >= 0 else None

    def follow(self, t: float) -> None:
        i = self.line_at(t)
        if i is None or i == self.highlighted:
            return
        h = self.highlighted
        if h is not None and h < len(self.times) and self.times[h] == self.times[i]:
            return  # a line printed with this one (a chosen line stays chosen)
        self.highlighted = i

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.lines):
            self.post_message(self.Chosen(*self.lines[event.option_index]))

    def action_leave(self) -> None:
        self.can_focus = False
        self.screen.set_focus(None)
