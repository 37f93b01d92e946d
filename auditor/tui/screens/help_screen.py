"""Help: what each key does here and everywhere, generated from the bindings themselves."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

INTRO = (
    "auditor records SSH sessions through its proxy and indexes them. "
    "Sessions: live ones on top; Enter replays. Filter with user:NAME node:NAME "
    "status:live|ended|interrupted reviewed:no|yes|USER; search finds sessions by what "
    "they printed. In a replay, y copies the moment (ID@T: `auditor ID@T` opens it). "
    "Ctrl+P opens the command palette; the mouse works everywhere."
)


def bindings_table(title: str, bindings: list[Binding]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, expand=True)
    table.add_column("key", style="bold cyan", width=14)
    table.add_column("action")
    for b in bindings:
        table.add_row(b.key_display or b.key, b.description or b.action)
    return table


def _bindings(cls: type) -> list[Binding]:
    return [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding)]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close"),
    ]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        name = type(self.under).__name__.removesuffix("Screen").lower() or "this screen"
        with VerticalScroll(id="help-box"):
            yield Static(Text("auditor — help", style="bold"))
            yield Static(INTRO, classes="help-intro")
            yield Static(bindings_table(f"On the {name} screen", _bindings(type(self.under))))
            yield Static(bindings_table("Everywhere", _bindings(type(self.app))))
            yield Static(Text("Esc closes this help.", style="dim"))
