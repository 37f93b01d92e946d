"""The shared index: one PostgreSQL database for every proxy, TUI and command.

Each ``PostgresIndex`` is one connection in autocommit mode: a single
statement is its own transaction, and the few multi-statement writes
(text extraction, an import) run in ``conn.transaction()``, which nests as
a savepoint inside an outer one. Full-text search uses a ``tsvector`` the
index builds from its own tokens (``terms.py``), so a query finds the same
sessions here as in SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from auditor.index import postgres_search as text_search
from auditor.index import terms
from auditor.index.api import LEASE, WATCH_TERM
from auditor.index.linetimes import time_at
from auditor.index.postgres_schema import migrate
from auditor.index.query import POSTGRES, Filters, columns
from auditor.index.rows import CommandRow, LiveChunk, TextRow
from auditor.index.sql_index import COMMAND_COLUMNS, TEXT_ROW_COPIES, SqlIndex
from auditor.storage import EVENTS_KEY, StorageError, redact

CONNECT_TIMEOUT = 10
MAX_POSITION = 16383  # a tsvector's highest word position: later words share it
LIVE_CHANNEL = "auditor_live"  # NOTIFY payload: the session id that has new output


class PostgresIndex(SqlIndex):
    # A lost server: extraction tries again on its next pass.
    TRANSIENT = (StorageError,)
    dialect = POSTGRES
    TEXT_ROWS = "session_text"

    def __init__(self, data_dir: Path, uri: str, conn: psycopg.Connection) -> None:
        super().__init__(data_dir)
        self.uri = uri
        self.conn = conn
        self._depth = 0  # transactions open (savepoints nest)

    @classmethod
    def connect(cls, uri: str, data_dir: Path) -> PostgresIndex:
        """Connect (libpq reads PGPASSWORD, ~/.pgpass and the URI) and migrate."""
        try:
            conn = psycopg.connect(uri, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:
            raise StorageError(
                f"{EVENTS_KEY}: cannot connect to {redact(uri)}: {_reason(exc)}"
            ) from None
        try:
            migrate(conn)
        except psycopg.Error as exc:
            conn.close()
            raise StorageError(
                f"{EVENTS_KEY}: cannot set up the index in {redact(uri)}: {_reason(exc)}"
            ) from None
        return cls(Path(data_dir), uri, conn)

    def reopen(self) -> PostgresIndex:
        return PostgresIndex.connect(self.uri, self.data_dir)

    def _close(self) -> None:
        self.conn.close()

    def _connected(self) -> psycopg.Connection:
        """The connection, made again if the server went away and is back: a
        proxy outlives a database restart. Never inside a transaction: its
        statements belong to the connection it began on."""
        if self.conn.broken and not self._depth:
            try:
                self.conn = psycopg.connect(
                    self.uri, autocommit=True, connect_timeout=CONNECT_TIMEOUT
                )
            except psycopg.Error as exc:
                raise StorageError(
                    f"{EVENTS_KEY}: cannot reach {redact(self.uri)}: {_reason(exc)}"
                ) from None
        return self.conn

    def _execute(self, sql: Any, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        try:
            return self._connected().execute(sql, params)
        except psycopg.OperationalError as exc:
            raise self._lost(exc) from None

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``conn.transaction()``, a savepoint inside another; a lost server is one
        line. A bulk load (the benches') pays for one commit, not one a call."""
        try:
            with self._connected().transaction():
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
        except psycopg.OperationalError as exc:
            raise self._lost(exc) from None

    def _lost(self, exc: psycopg.OperationalError) -> StorageError:
        """A server that went away mid-command: one line naming the key, no traceback."""
        return StorageError(f"{EVENTS_KEY}: lost {redact(self.uri)}: {_reason(exc)}")

    # Full-text search in tsvectors built from the index's own tokens
    def _newest_matches(self, q: str, filters: Filters, limit: int | None) -> list[tuple[str, int]]:
        words = terms.parse_query(q)
        query, candidates = _tsquery(words), _tsquery(words, phrases=False)
        if query is None or candidates is None:
            return []
        found: dict[str, int] = {}
        for page in text_search.newest_first(
            self, text_search.TEXT, "session_id", query, candidates, filters, limit
        ):
            for sid, rid in page:
                found.setdefault(sid, rid)
                if limit is not None and len(found) >= limit:
                    return list(found.items())
        return list(found.items())

    def _hit_lines(self, q: str, found: list[tuple[str, int]]) -> dict[int, tuple[float, str]]:
        words = terms.parse_query(q)
        lines: dict[int, tuple[float, str]] = {}
        for rid, t, text, times in self._rows(
            "SELECT id, t, text, times FROM session_text WHERE id = ANY(%s)",
            [[r for _, r in found]],
        ):
            hit = terms.first_hit(text, words)
            lines[rid] = (
                (float(t), "") if hit is None else (time_at(times, hit[0], float(t)), hit[1])
            )
        return lines

    def _session_hits(self, session_id: str, q: str, limit: int) -> list[tuple[float, str]]:
        words = terms.parse_query(q)
        query = _tsquery(words)
        if query is None:
            return []
        hits: list[tuple[float, str]] = []
        for t, text, times in self._rows(
            "SELECT t, text, times FROM session_text WHERE session_id = %s "
            "AND terms @@ %s::tsquery ORDER BY id",
            [session_id, query],
        ):
            for at, line in terms.hit_lines(text, words):
                hits.append((time_at(times, at, float(t)), line))
                if len(hits) >= limit:
                    return hits
        return hits

    def _insert_text(self, session_id: str, copied: tuple[Any, ...], rows: list[TextRow]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(  # inside a transaction: a lost server is one line
                f"INSERT INTO session_text (session_id, t, text, terms, times, "
                f"{columns(TEXT_ROW_COPIES)}) "
                "VALUES (%s, %s, %s, %s::tsvector, %s, %s, %s, %s)",
                [
                    (session_id, t, POSTGRES.text(text), _tsvector(text), times or None, *copied)
                    for t, text, times in rows
                ],
            )

    def _remove_text(self, session_ids: list[str]) -> None:
        self._execute("DELETE FROM session_text WHERE session_id = ANY(%s)", [session_ids])

    def _remove_own(self, session_ids: list[str]) -> None:
        self._execute("DELETE FROM live_chunks WHERE session_id = ANY(%s)", [session_ids])

    def _replace_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        self._execute("DELETE FROM commands WHERE session_id = %s", [session_id])
        with self.conn.cursor() as cur:  # one round trip, not one a command
            cur.executemany(
                f"INSERT INTO commands ({columns(COMMAND_COLUMNS)}, terms) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector)",
                [
                    (
                        c.session_id,
                        c.t,
                        c.time,
                        POSTGRES.text(c.line),
                        POSTGRES.text(c.context),
                        c.user,
                        c.login,
                        c.node,
                        _tsvector(c.line),
                    )
                    for c in commands
                ],
            )

    def _search_commands(
        self, search: str, filters: Filters, in_session: bool, limit: int | None
    ) -> list[CommandRow]:
        words = terms.parse_query(search)
        query, candidates = _tsquery(words), _tsquery(words, phrases=False)
        if query is None or candidates is None:
            return []
        if in_session:
            where = filters.where("c", '"time"').add("c.terms @@ ?::tsquery", query)
            return self._command_rows("commands c", where, "c.t", limit)
        # The newest indexed first, as the SQLite engine.
        found: list[CommandRow] = []
        for page in text_search.newest_first(
            self, text_search.COMMANDS, columns(COMMAND_COLUMNS), query, candidates, filters, limit
        ):
            found += [CommandRow(*r[:-1]) for r in page]
            if limit is not None and len(found) >= limit:
                break
        return found[:limit]

    # Live sessions seen from other machines
    shares_live = True

    def publish_live(self, session_id: str, chunk: LiveChunk) -> None:
        with self.transaction():
            # A retry after a lost reply may bring the same bytes again.
            self._execute(
                'INSERT INTO live_chunks (session_id, "offset", data, end_t, end_seq) '
                "VALUES (%s, %s, %b, %s, %s) ON CONFLICT DO NOTHING",  # %b: binary, not hex
                [session_id, chunk.offset, chunk.data, chunk.end_t, chunk.end_seq],
            )
            self._execute("SELECT pg_notify(%s, %s)", [LIVE_CHANNEL, session_id])  # on commit

    def live_chunks(self, session_id: str, offset: int) -> list[LiveChunk]:
        rows = self._rows(
            'SELECT "offset", data, end_t, end_seq FROM live_chunks WHERE session_id = %s '
            'AND "offset" >= %s ORDER BY "offset" LIMIT 16',
            [session_id, offset],
        )
        return [LiveChunk(int(o), bytes(d), float(t), int(q)) for o, d, t, q in rows]

    def watch_live(self, session_id: str, viewer: str, term: float = WATCH_TERM) -> None:
        self._execute(
            "INSERT INTO live_watch (session_id, viewer, expires) VALUES (%s, %s, %s) "
            "ON CONFLICT (session_id, viewer) DO UPDATE SET expires = EXCLUDED.expires",
            [session_id, viewer, time.time() + term],
        )

    def watched(self, session_ids: list[str]) -> set[str]:
        if not session_ids:
            return set()
        rows = self._rows(
            "SELECT DISTINCT session_id FROM live_watch WHERE session_id = ANY(%s) "
            "AND expires > %s",
            [session_ids, time.time()],
        )
        return {str(r[0]) for r in rows}

    def live_listener(self) -> LiveListener:
        return LiveListener(self.uri)

    def forget_live(self, ended_before: float) -> int:
        # An interrupted session's bytes stay until its proxy uploads the spool:
        # until then they are all another machine can show of it.
        cur = self._execute(
            "DELETE FROM live_chunks c USING sessions s WHERE c.session_id = s.id "
            "AND s.status != 'live' AND s.\"end\" < %s "
            "AND (s.status = 'ended' OR s.recording_path LIKE 's3:%%')",
            [ended_before],
        )
        self._execute("DELETE FROM live_watch WHERE expires < %s", [time.time()])
        return cur.rowcount

    def renew_lease(self, address: str | None = None, term: float = LEASE) -> None:
        now = time.time()
        self._execute(
            "INSERT INTO proxy_leases (owner, address, renewed, expires) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (owner) DO UPDATE SET address = EXCLUDED.address, "
            "renewed = EXCLUDED.renewed, expires = EXCLUDED.expires",
            [self._owner, address, now, now + term],
        )

    def _leases(self) -> dict[str, float]:
        # Leases long gone, with nothing of theirs left live, are dropped on the way.
        self._execute(
            "DELETE FROM proxy_leases l WHERE expires < %s AND NOT EXISTS "
            "(SELECT 1 FROM sessions s WHERE s.status = 'live' AND s.owner = l.owner)",
            [time.time() - 86400],
        )
        return {str(o): float(e) for o, e in self._rows("SELECT owner, expires FROM proxy_leases")}


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _tsvector(text: str) -> str:
    """The tsvector literal of a stretch of text, from our own tokens: no parser,
    no dictionary, so it holds exactly what ``terms`` makes of the text."""
    positions: dict[str, list[int]] = {}
    for n, token in enumerate(terms.token_list(text), 1):
        seen = positions.get(token)
        if seen is None:
            positions[token] = [min(n, MAX_POSITION)]
        elif len(seen) < terms.MAX_POSITIONS and seen[-1] < MAX_POSITION:
            seen.append(min(n, MAX_POSITION))  # ascending, each once
    return " ".join(f"{_lexeme(tok)}:{','.join(map(str, pos))}" for tok, pos in positions.items())


def _tsquery(words: list[terms.Word], phrases: bool = True) -> str | None:
    """Every word a phrase (``<->``), the last token a prefix (``:*``) for ``foo*``;
    None when no word has a token (nothing can match). Without ``phrases`` a
    word's tokens need only all be there: what the GIN index answers exactly."""
    parts = []
    for word in terms.searchable(words):
        lexemes = [_lexeme(t) for t in word.tokens]
        if word.prefix:
            lexemes[-1] += ":*"
        parts.append("(" + (" <-> " if phrases else " & ").join(lexemes) + ")")
    return " & ".join(parts) if parts else None


def _reason(exc: psycopg.Error) -> str:
    """libpq's message as one line: the last, most specific part of its first line."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    for sep in ("failed: FATAL: ", "failed: "):
        if sep in first:
            first = first.rsplit(sep, 1)[1]
            break
    return first.removeprefix("FATAL:").strip() or type(exc).__name__


class LiveListener:
    """A connection of its own that LISTENs for published live output."""

    def __init__(self, uri: str) -> None:
        try:
            self.conn = psycopg.connect(uri, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
            self.conn.execute(f"LISTEN {LIVE_CHANNEL}")
        except psycopg.Error as exc:
            raise StorageError(
                f"{EVENTS_KEY}: cannot connect to {redact(uri)}: {_reason(exc)}"
            ) from None

    def poll(self, timeout: float = 0.0) -> set[str]:
        """The sessions that published since the last poll (waits up to ``timeout``)."""
        try:
            return {n.payload for n in self.conn.notifies(timeout=timeout)}
        except psycopg.Error as exc:
            raise StorageError(f"{EVENTS_KEY}: lost the live wake-ups: {_reason(exc)}") from None

    def close(self) -> None:
        self.conn.close()
