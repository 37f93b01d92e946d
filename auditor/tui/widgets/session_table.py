"""Sessions as a table: live ones on top and marked, past ones below, paged in as you scroll."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from auditor.index import SearchHit, Session
from auditor.index.terms import MARK_END, MARK_START
from auditor.tui import readable as fmt
from auditor.tui.data import SessionPage
from auditor.tui.safe_text import append_data, data_text
from auditor.tui.widgets.fit import cut_with_ellipsis, fit_columns

# key, label, and the least width the column is cut to when the table is too narrow
# for every column at its content's width (auditor.tui.widgets.fit).
COLUMNS = (
    ("mark", "", 6),
    ("user", "user", 10),
    ("target", "login@node", 24),
    ("start", "start", 19),
    ("duration", "duration", 8),
    ("status", "status", 11),
    ("exit", "exit", 6),
    ("in", "in", 4),  # bytes from the user to the node
    ("out", "out", 4),  # bytes from the node to the user
    ("command", "command", 24),
    ("reviewed", "reviewed", 14),  # ✓ and who (the first reviewer, +N more); ⏸ held
)
MATCH = ("match", "matching line", 40)
STATUS_STYLE = {"live": "bold green", "ended": "", "interrupted": "yellow"}
# The free-text columns give way first when the table is too narrow; a cut ends in "…".
GIVE = ("command", "match", "target", "reviewed", "user")
LEAST = {key: width for key, _, width in (*COLUMNS, MATCH)}


def plain(value: str, style: str = "") -> Text:
    """A cell shown as recorded: DataTable would read a ``str`` as Rich markup.

    A command like ``echo [red]hi`` then lost its brackets, and ``grep '[/]'``
    raised MarkupError while the table drew.
    Control characters show as escapes (``auditor.tui.safe_text``).
    """
    return cut_with_ellipsis(data_text(value, style))


def match_text(line: str) -> Text:
    """The index marks the match with «»: show it highlighted instead."""
    text = Text(end="")
    rest = line
    while (start := rest.find(MARK_START)) >= 0:
        end = rest.find(MARK_END, start)
        if end < 0:
            break
        append_data(text, rest[:start])
        append_data(text, rest[start + 1 : end], style="bold reverse")
        rest = rest[end + 1 :]
    return cut_with_ellipsis(append_data(text, rest))


class SessionTable(DataTable[Text]):
    """Rows keyed by session id; ``tick`` refreshes what changes on live rows."""

    BINDINGS = [
        Binding("home", "scroll_top", "First", show=False),
        Binding("end", "scroll_bottom", "Last", show=False),
    ]

    class Opened(Message):
        """Enter or a click on a session: replay it."""

        def __init__(self, session: Session, hit: SearchHit | None) -> None:
            super().__init__()
            self.session = session
            self.hit = hit

    class NeedMore(Message):
        """The cursor is near the last loaded row and more sessions exist."""

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SessionTable.NeedMore)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.sessions: dict[str, Session] = {}
        self.hits: dict[str, SearchHit] = {}
        self.samples: frozenset[str] = frozenset()
        self.more = False
        self.reviewers: dict[str, tuple[str, ...]] = {}
        self.held: frozenset[str] = frozenset()
        self.last_past: Session | None = None
        self._searching: bool | None = None

    def _columns(self, searching: bool) -> None:
        if self._searching == searching:
            return
        self.clear(columns=True)
        # While searching, the matching line comes right after who and where.
        columns = (*COLUMNS[:3], MATCH, *COLUMNS[3:]) if searching else COLUMNS
        for key, label, _ in columns:
            self.add_column(label, key=key)  # auto width, fitted in show and on resize
        self._searching = searching

    def _cells(self, s: Session, now: float) -> list[Text]:
        if s.live:
            mark = plain("● LIVE", "bold red")
        elif s.id in self.samples:
            mark = plain("sample", "dim italic")
        else:
            mark = plain("")
        cells = [
            mark,
            plain(s.user or "-"),
            plain(fmt.target(s)),
            plain(fmt.when(s.start)),
            plain(fmt.duration(s.duration(now))),
            plain(s.status, STATUS_STYLE.get(s.status, "")),
            plain(fmt.exit_text(s)),
            plain(fmt.size(s.bytes_in)),
            plain(fmt.size(s.bytes_out)),
            plain(fmt.what(s)),
            self._reviewed(s.id),
        ]
        if self._searching:
            hit = self.hits.get(s.id)
            cells.insert(3, match_text(hit.line) if hit else plain(""))
        return cells

    def _reviewed(self, sid: str) -> Text:
        """Reviewer names are OS users' (this side's), still shown as data, never markup."""
        who = self.reviewers.get(sid, ())
        text = Text(end="")
        if sid in self.held:
            text.append("⏸ ", style="bold yellow")
        if who:
            text.append("✓ ", style="bold green")
            append_data(text, who[0])
            if len(who) > 1:
                text.append(f" +{len(who) - 1}", style="dim")
        return cut_with_ellipsis(text)

    def show(
        self, page: SessionPage, now: float, *, append: bool = False, searching: bool = False
    ) -> None:
        """Replace the rows (keeping the cursor on the same session), or append a page."""
        if not append:
            keep = self.selected_id
            self._columns(searching)
            self.clear()
            self.sessions = {}
            self.hits = dict(page.hits)
            self.reviewers, self.held = {}, frozenset()
        self.reviewers = {**self.reviewers, **page.reviewers}
        self.held = self.held | page.held
        for s in (*page.live, *page.past):
            if s.id in self.sessions:
                continue
            self.sessions[s.id] = s
            self.add_row(*self._cells(s, now), key=s.id)
        if page.past:
            self.last_past = page.past[-1]
        elif not append:
            self.last_past = None
        self.more = page.more
        if not append and keep in self.sessions:
            self.move_cursor(row=self.get_row_index(keep))
        fit_columns(self, GIVE, LEAST)

    def on_resize(self) -> None:
        fit_columns(self, GIVE, LEAST)

    def tick(self, now: float, live: list[Session] | None = None) -> None:
        """Durations of live rows (every second), and their byte counts when re-read."""
        for s in live or []:
            if s.id in self.sessions:
                self.sessions[s.id] = s
        for s in list(self.sessions.values()):
            if not s.live:
                continue
            self.update_cell(s.id, "duration", plain(fmt.duration(s.duration(now))))
            self.update_cell(s.id, "in", plain(fmt.size(s.bytes_in)))
            self.update_cell(s.id, "out", plain(fmt.size(s.bytes_out)))
        if self.live_ids:
            fit_columns(self, GIVE, LEAST)  # a count may have grown a digit

    @property
    def live_ids(self) -> set[str]:
        return {sid for sid, s in self.sessions.items() if s.live}

    @property
    def selected_id(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value

    @property
    def selected(self) -> Session | None:
        sid = self.selected_id
        return self.sessions.get(sid) if sid else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        sid = event.row_key.value
        if sid in self.sessions:
            self.post_message(self.Opened(self.sessions[sid], self.hits.get(sid)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.more and event.cursor_row >= self.row_count - 20:
            self.post_message(self.NeedMore())
