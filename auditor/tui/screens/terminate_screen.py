"""Asking before a live session is ended: which one, what the user will see, and why."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from auditor.index import Session
from auditor.tui.safe_text import data_text


class TerminateScreen(ModalScreen[str | None]):
    """Dismissed with the reason typed (maybe empty) on confirm, None on cancel."""

    DEFAULT_CSS = """
    TerminateScreen { align: center middle; }
    #terminate-box {
        width: 72; max-width: 95%; height: auto;
        border: thick $error; background: $panel; padding: 1 2;
    }
    #terminate-box Input { margin: 1 0; }
    #terminate-buttons { height: auto; align-horizontal: right; }
    #terminate-buttons Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    @property
    def reason_input(self) -> Input:
        return self.query_one("#reason", Input)

    def compose(self) -> ComposeResult:
        s = self.session
        target = f"{s.login or '?'}@{s.node}" if s.node else (s.login or "-")
        with Vertical(id="terminate-box"):
            # A Static reads a str as markup: the user and target are the audited side's.
            yield Static(
                data_text(f"Terminate live session {s.id[:8]} ({s.user or '-'} {target})?")
            )
            yield Static(
                "Both sides are closed; the user sees "
                "'auditor: session terminated by an auditor: REASON'.",
                classes="terminate-note",
            )
            yield Input(placeholder="reason, shown to the user and kept in the index", id="reason")
            with Horizontal(id="terminate-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Terminate", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.reason_input.focus()

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(self.reason_input.value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
