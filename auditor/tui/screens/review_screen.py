"""Marking a session reviewed: which one (and the moment, from the replay), a note."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from auditor.index import Session
from auditor.index.owner import os_user
from auditor.replay.moment import reference
from auditor.tui.safe_text import data_text


class ReviewScreen(ModalScreen[str | None]):
    """Dismissed with the note typed (maybe empty) on confirm, None on cancel."""

    DEFAULT_CSS = """
    ReviewScreen { align: center middle; }
    #review-box {
        width: 72; max-width: 95%; height: auto;
        border: thick $success; background: $panel; padding: 1 2;
    }
    #review-box Input { margin: 1 0; }
    #review-buttons { height: auto; align-horizontal: right; }
    #review-buttons Button { margin-left: 2; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, session: Session, t: float | None = None) -> None:
        super().__init__()
        self.session = session
        self.t = t

    @property
    def note_input(self) -> Input:
        return self.query_one("#note", Input)

    def compose(self) -> ComposeResult:
        s = self.session
        where = reference(s.id, self.t) if self.t is not None else s.id[:8]
        target = f"{s.login or '?'}@{s.node}" if s.node else (s.login or "-")
        with Vertical(id="review-box"):
            # The user and target are the audited side's: data, never markup.
            yield Static(data_text(f"Mark session {where} ({s.user or '-'} {target}) reviewed?"))
            yield Static(
                data_text(f"As {os_user()}, now; kept beside any other reviews, never edited."),
                classes="review-note",
            )
            yield Input(placeholder="note (optional): what you found", id="note")
            with Horizontal(id="review-buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Reviewed", id="confirm", variant="success")

    def on_mount(self) -> None:
        self.note_input.focus()

    @on(Input.Submitted, "#note")
    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        self.dismiss(self.note_input.value.strip())

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
