"""The failures screen's parts: kinds with counts and activity, a kind's failures, one failure."""

from __future__ import annotations

import json
import re

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable, Static

from auditor.index import Failure
from auditor.index.rows import KindSummary
from auditor.tui import readable as fmt
from auditor.tui.remediation import remediation
from auditor.tui.safe_text import append_data, append_lines, data_text
from auditor.tui.widgets.fit import cut_with_ellipsis, fit_columns

# A host name, an address or NODE: nothing Markdown would read as markup.
PLAIN_NODE = re.compile(r"[A-Za-z0-9.:-]*")


class KindTable(DataTable[str | Text]):
    """One row per failure kind: count, latest (the chart beside it shows when)."""

    class Chosen(Message):
        def __init__(self, kind: str | None) -> None:
            super().__init__()
            self.kind = kind

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.summaries: list[KindSummary] = []
        for key, label in (("kind", "kind"), ("count", "count"), ("last", "last")):
            self.add_column(label, key=key)  # auto width, fitted in show and on resize

    def show(self, summaries: list[KindSummary]) -> None:
        keep = self.chosen
        self.summaries = summaries
        self.clear()
        for s in summaries:
            self.add_row(
                cut_with_ellipsis(data_text(s.kind, style="bold")),
                Text(str(s.count), justify="right"),
                Text(fmt.when(s.last)),
                key=s.kind,
            )
        kinds = [s.kind for s in summaries]
        if keep in kinds:
            self.move_cursor(row=kinds.index(keep))
        fit_columns(self, ("kind",))

    def on_resize(self) -> None:
        fit_columns(self, ("kind",))

    @property
    def chosen(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Chosen(event.row_key.value))


# The free-text columns give way first when the table is too narrow; a cut ends in "…".
GIVE = ("message", "node", "user")


class FailureTable(DataTable[str | Text]):
    class Chosen(Message):
        def __init__(self, failure: Failure | None) -> None:
            super().__init__()
            self.failure = failure

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.failures: dict[str, Failure] = {}
        for key, label in (
            ("time", "time"),
            ("node", "node"),
            ("user", "user"),
            ("retries", "retries"),
            ("message", "message"),
        ):
            self.add_column(label, key=key)  # auto width, fitted in show and on resize

    def show(self, failures: list[Failure], samples: frozenset[str]) -> None:
        self.clear()
        self.failures = {f.id: f for f in failures}
        for f in failures:
            node = f.node or "-"
            if f.port and f.port != 22:
                node = f"{node}:{f.port}"
            user = f.user or f.login or "-"
            message = Text("sample ", style="dim italic") if f.id in samples else Text()
            append_data(message, f.message)
            # Text, not str: DataTable reads a str cell as markup; nodes and logins are the
            # audited side's choice.
            self.add_row(
                Text(fmt.when(f.time)),
                cut_with_ellipsis(data_text(node)),
                cut_with_ellipsis(data_text(user)),
                Text(str(f.retries)),
                cut_with_ellipsis(message),  # whole in the detail below, wrapped
                key=f.id,
            )
        fit_columns(self, GIVE)
        self.post_message(self.Chosen(failures[0] if failures else None))

    def on_resize(self) -> None:
        fit_columns(self, GIVE)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Chosen(self.failures.get(str(event.row_key.value))))


class FailureDetail(Static):
    """Everything about one failure, and what to do about it."""

    def show(self, f: Failure | None) -> None:
        if f is None:
            self.update(Text("No failures recorded.", style="dim"))
            return
        # A grid: a long message wraps under itself, not under the labels.
        head = Table.grid(padding=(0, 2))
        head.add_column(justify="right", style="dim")
        head.add_column(ratio=1)
        for label, value in (
            ("kind", f.kind),
            ("time", fmt.when(f.time)),
            ("node", f"{f.node or '-'}" + (f":{f.port}" if f.port else "")),
            ("user", f.user or "-"),
            ("login", f.login or "-"),
            ("client", f.client_addr or "-"),
            ("retries", str(f.retries)),
            ("message", f.message),
        ):
            head.add_row(Text(label), data_text(value, style="bold" if label == "kind" else ""))
        fix = Text("\nRemediation", style="bold green")
        raw = Text("\nRaw detail\n", style="bold")
        detail = f.detail or ""
        if f.extra:
            try:
                extra = json.dumps(json.loads(f.extra), indent=1)
            except ValueError:
                extra = f.extra
            detail = f"{detail}\n{extra}" if detail else extra
        if detail:
            append_lines(raw, detail)
        else:
            raw.append("(none)", style="dim")
        self.update(Group(head, fix, remedy(f), raw))


def remedy(f: Failure) -> RenderableType:
    """The remediation rendered: our hints are Markdown (`commands` in backticks, config
    lines indented as code). The node's name goes into it, and a name is the dialling
    side's choice: one that is not a plain host name is shown as data, not as Markdown."""
    text = remediation(f)
    if PLAIN_NODE.fullmatch(f.node or ""):
        return Markdown(fence(text), code_theme="ansi_dark", inline_code_theme="ansi_dark")
    return append_lines(Text(), text + "\n")


def fence(text: str) -> str:
    """Indented lines as fenced code: in Markdown an indented block cannot follow a
    paragraph's line ("On the node, in sshd_config:") and would join the paragraph."""
    out: list[str] = []
    code = False
    for line in text.split("\n"):
        indented = line.startswith("    ")
        if indented != code:
            out.append("```" if code else "\n```")
            code = indented
        out.append(line[4:] if indented else line)
    if code:
        out.append("```")
    return "\n".join(out)
