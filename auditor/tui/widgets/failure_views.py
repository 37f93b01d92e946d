"""The failures screen's parts: kinds with counts and activity, a kind's failures, one failure."""

from __future__ import annotations

import json

from rich.console import Group
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable, Static

from auditor.index import Failure
from auditor.tui import format as fmt
from auditor.tui.data import KindSummary
from auditor.tui.remediation import remediation
from auditor.tui.text import append_data, append_lines, data_text


class KindTable(DataTable[str | Text]):
    """One row per failure kind: count, latest, activity over the last day."""

    class Chosen(Message):
        def __init__(self, kind: str | None) -> None:
            super().__init__()
            self.kind = kind

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", **kwargs)  # type: ignore[arg-type]
        self.summaries: list[KindSummary] = []
        for key, label, width in (
            ("kind", "kind", 24),
            ("count", "count", 6),
            ("last", "last", 19),
            ("activity", "last 24h", 24),
        ):
            self.add_column(label, key=key, width=width)

    def show(self, summaries: list[KindSummary]) -> None:
        keep = self.chosen
        self.summaries = summaries
        self.clear()
        for s in summaries:
            self.add_row(
                data_text(s.kind, style="bold"),
                Text(str(s.count), justify="right"),
                Text(fmt.when(s.last)),
                Text(fmt.sparkline(s.activity), style="red"),
                key=s.kind,
            )
        kinds = [s.kind for s in summaries]
        if keep in kinds:
            self.move_cursor(row=kinds.index(keep))

    @property
    def chosen(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Chosen(event.row_key.value))


class FailureTable(DataTable[str | Text]):
    class Chosen(Message):
        def __init__(self, failure: Failure | None) -> None:
            super().__init__()
            self.failure = failure

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self.failures: dict[str, Failure] = {}
        for key, label, width in (
            ("time", "time", 19),
            ("node", "node", 20),
            ("user", "user", 10),
            ("retries", "retries", 7),
            ("message", "message", 60),
        ):
            self.add_column(label, key=key, width=width)

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
                data_text(node),
                data_text(user),
                Text(str(f.retries)),
                message,
                key=f.id,
            )
        self.post_message(self.Chosen(failures[0] if failures else None))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Chosen(self.failures.get(str(event.row_key.value))))


class FailureDetail(Static):
    """Everything about one failure, and what to do about it."""

    def show(self, f: Failure | None) -> None:
        if f is None:
            self.update(Text("No failures recorded.", style="dim"))
            return
        head = Text()
        for label, value in (
            ("kind", f.kind),
            ("time", fmt.when(f.time)),
            ("node", f"{f.node or '-'}" + (f":{f.port}" if f.port else "")),
            ("user", f.user or "-"),
            ("login", f.login or "-"),
            ("client", f.client_addr or "-"),
            ("retries", str(f.retries)),
        ):
            head.append(f"{label:>8}  ", style="dim")
            append_data(head, value, style="bold" if label == "kind" else "")
            head.append("\n")
        head.append(f"{'message':>8}  ", style="dim")
        append_data(head, f.message)
        head.append("\n")
        fix = Text("\nRemediation\n", style="bold green")
        append_lines(fix, remediation(f) + "\n")  # our lines around the node's name
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
        self.update(Group(head, fix, raw))
