"""The SQL both engines share, written once: filters, quoting, placeholders.

Shared statements are written with ``?`` placeholders and standard
``"name"`` quoting, which SQLite and PostgreSQL both read; ``Dialect.render``
turns the marks into the driver's (psycopg's ``%s``). A ``Dialect`` holds
only what truly differs between the two: how a list of ids is bound, how a
keyset comparison reads best to the planner, row locks, an integer floor,
keeping an existing row on a duplicate key, and NUL in text. Full-text
search, leases, live follow and migrations stay in each engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar

from auditor.index.rows import FAILURE_COLUMNS, SESSION_COLUMNS

BATCH = 500  # ids bound one by one per statement: well under SQLite's limit
LIVE_SESSIONS = "(SELECT id FROM sessions WHERE status = 'live')"


@dataclass(frozen=True)
class Dialect:
    name: str
    mark: str  # the driver's placeholder
    # A list binds as one array parameter (``= ANY(?)``); else ``IN (?, ...)``, in batches.
    arrays: bool
    # ``(a, b) < (?, ?)`` walks the index on (a, b); SQLite's planner wants it spelt out.
    row_values: bool
    lock_rows: str  # what a SELECT adds to hold its rows until the transaction ends
    floor: str  # the whole number at or below ``{}`` (never negative here)
    # ``ON CONFLICT (key) DO NOTHING``; else ``INSERT OR IGNORE`` (SQLite before 3.24).
    on_conflict: bool
    keeps_nul: bool  # text columns hold NUL

    def render(self, sql: str) -> str:
        """A statement written with ``?`` in this driver's placeholders."""
        return sql if self.mark == "?" else _render(sql, self.mark)

    def among(self, column: str, ids: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """``column`` is one of ``ids``, as ``(clause, params)`` for each statement to
        run: one for an array, a batch each otherwise; none for no ids."""
        if self.arrays:
            if ids:
                yield f"{column} = ANY(?)", [list(ids)]
            return
        for i in range(0, len(ids), BATCH):
            yield self.within(column, ids[i : i + BATCH])

    def within(self, column: str, ids: Sequence[Any]) -> tuple[str, list[Any]]:
        """``column`` is one of ``ids``, at most a batch of them, in one clause."""
        if self.arrays:
            return f"{column} = ANY(?)", [list(ids)]
        return f"{column} IN ({marks(len(ids))})", list(ids)

    def before(self, first: str, second: str, values: tuple[Any, Any]) -> tuple[str, list[Any]]:
        """``(first, second) < values``: keyset paging's next page."""
        if self.row_values:
            return f"({first}, {second}) < (?, ?)", list(values)
        return f"({first} < ? OR ({first} = ? AND {second} < ?))", [values[0], *values]

    def insert_new(self, table: str, names: Sequence[str], key: str) -> str:
        """An INSERT that writes nothing where a row with the same ``key`` is there."""
        if self.on_conflict:
            return f"{insert(table, names)} ON CONFLICT ({key}) DO NOTHING"
        return insert(table, names).replace("INSERT", "INSERT OR IGNORE", 1)

    def text(self, value: str) -> str:
        return value if self.keeps_nul else value.replace("\x00", "\ufffd")


SQLITE = Dialect(
    "sqlite", "?", arrays=False, row_values=False, lock_rows="",
    floor="CAST(({}) AS INTEGER)", on_conflict=False, keeps_nul=True,
)  # fmt: skip
POSTGRES = Dialect(
    "postgresql", "%s", arrays=True, row_values=True, lock_rows=" FOR UPDATE",
    floor="floor({})::int", on_conflict=True, keeps_nul=False,
)  # fmt: skip


class Engine(ABC):
    """What the shared SQL needs of an engine: its dialect, and its connection's
    statements and transactions."""

    dialect: ClassVar[Dialect]

    @abstractmethod
    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A statement in the driver's own placeholders; all its rows."""

    @abstractmethod
    def _execute(self, sql: Any, params: Sequence[Any] = ()) -> Any:
        """A statement in the driver's own placeholders; its cursor."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[object]:
        """Statements committed as one; inside another transaction, part of it."""

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A shared statement (``?`` placeholders); all its rows."""
        return self._rows(self.dialect.render(sql), params)

    def _change(self, sql: str, params: Sequence[Any] = ()) -> int:
        """A shared statement (``?`` placeholders) that writes; how many rows it changed."""
        return int(self._execute(self.dialect.render(sql), params).rowcount)


@lru_cache(maxsize=1024)
def _render(sql: str, mark: str) -> str:
    return sql.replace("%", "%%").replace("?", mark)


def quote(name: str) -> str:
    return f'"{name}"'


def columns(names: Sequence[str], alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote(n) for n in names)


SESSION_COLUMNS_SQL = columns(SESSION_COLUMNS)
FAILURE_COLUMNS_SQL = columns(FAILURE_COLUMNS)


def marks(n: int) -> str:
    return ", ".join("?" * n)


def insert(table: str, names: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({columns(names)}) VALUES ({marks(len(names))})"


def assignments(names: Sequence[str]) -> str:
    return ", ".join(f"{quote(n)} = ?" for n in names)


def limit_clause(n: int | None) -> str:
    return "" if n is None else f" LIMIT {int(n)}"


@dataclass
class Where:
    """Clauses ANDed together and their parameters, in order."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *params: Any) -> Where:
        self.clauses.append(clause)
        self.params.extend(params)
        return self

    def __str__(self) -> str:
        return f"WHERE {' AND '.join(self.clauses)}" if self.clauses else ""


@dataclass(frozen=True)
class Filters:
    """What a listing or a search is narrowed to: columns equal to values (``--user``,
    ``--node``, a session), rows since a time, sessions live or not."""

    equal: tuple[tuple[str, Any], ...] = ()
    since: float | None = None
    live: bool | None = None

    @classmethod
    def of(cls, *, since: float | None = None, live: bool | None = None, **equal: Any) -> Filters:
        """The filters given (those that are None are not)."""
        return cls(tuple((k, v) for k, v in equal.items() if v is not None), since, live)

    def where(self, alias: str = "", since: str = "start", live: str = "status") -> Where:
        """The clauses on a table (as ``alias``), ``since`` its time column (or an
        expression of it). ``live`` says how a row tells: by its ``status`` (a
        session) or by its ``session_id`` (a row of one)."""
        prefix = f"{alias}." if alias else ""
        where = Where()
        for column, value in self.equal:
            where.add(f"{prefix}{quote(column)} = ?", value)
        if self.since is not None:
            where.add(f"{prefix}{since} >= ?", self.since)
        if self.live is not None and live == "status":
            where.add(f"{prefix}status {'=' if self.live else '!='} 'live'")
        elif self.live is not None:  # live sessions are few: the subquery runs once
            where.add(f"{prefix}session_id {'' if self.live else 'NOT '}IN {LIVE_SESSIONS}")
        return where
