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
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import psycopg

from auditor.index import postgres_search as text_search
from auditor.index import terms
from auditor.index.api import LEASE, WATCH_TERM, SessionIndex
from auditor.index.failures import FailureKind
from auditor.index.linetimes import time_at
from auditor.index.postgres_marks import PostgresMarks
from auditor.index.postgres_schema import migrate
from auditor.index.rows import (
    FAILURE_COLUMNS,
    SESSION_COLUMNS,
    CommandRow,
    Failure,
    KindSummary,
    LiveChunk,
    LiveRow,
    SearchHit,
    Session,
    TerminationRequest,
    TextRow,
    TextState,
)
from auditor.storage import EVENTS_KEY, StorageError, redact

CONNECT_TIMEOUT = 10
# The session's columns each text row keeps a copy of, for filtered searches.
TEXT_ROW_COPIES = ("user", "node", "start")
MAX_POSITION = 16383  # a tsvector's highest word position: later words share it
LIVE_CHANNEL = "auditor_live"  # NOTIFY payload: the session id that has new output


class PostgresIndex(PostgresMarks, SessionIndex):
    # A lost server: extraction tries again on its next pass.
    TRANSIENT = (StorageError,)

    def __init__(
        self, data_dir: Path, uri: str, conn: psycopg.Connection, background_text: bool
    ) -> None:
        super().__init__(data_dir, background_text)
        self.uri = uri
        self.conn = conn
        self._depth = 0  # transactions open (savepoints nest)

    @classmethod
    def connect(cls, uri: str, data_dir: Path, *, background_text: bool = False) -> PostgresIndex:
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
        return cls(Path(data_dir), uri, conn, background_text)

    def reopen(self) -> PostgresIndex:
        return PostgresIndex.connect(self.uri, self.data_dir, background_text=False)

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

    def transaction(self) -> AbstractContextManager[None]:
        """Many writes committed as one, as ``SqliteIndex.transaction``: a bulk load
        (the benches') pays for one commit, not one a call."""
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``conn.transaction()``, a savepoint inside another; a lost server is one line."""
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

    # Writing
    def _insert_session(self, row: dict[str, Any]) -> None:
        self._execute(_insert("sessions", row), list(row.values()))

    def _update_session(self, session_id: str, row: dict[str, Any]) -> None:
        sets = ", ".join(f'"{k}" = %s' for k in row)
        sql = f"UPDATE sessions SET {sets} WHERE id = %s"
        copied = {k: row[k] for k in TEXT_ROW_COPIES if k in row}
        if not copied:
            self._execute(sql, [*row.values(), session_id])
            return
        with self._transaction():  # and the copies a filtered search reads
            self._execute(sql, [*row.values(), session_id])
            sets = ", ".join(f'"{k}" = %s' for k in copied)
            self._execute(
                f"UPDATE session_text SET {sets} WHERE session_id = %s",
                [*copied.values(), session_id],
            )

    def _insert_ended(self, row: dict[str, Any]) -> None:
        from auditor.index.extract import extract_text

        session_id = str(row["id"])
        with self._transaction():
            self._execute("DELETE FROM session_text WHERE session_id = %s", [session_id])
            self._execute("DELETE FROM sessions WHERE id = %s", [session_id])
            if not row.get("recording_path"):
                row = {**row, "text_done": 1}
            self._execute(_insert("sessions", row), list(row.values()))
            if row.get("recording_path"):
                extract_text(self, session_id)

    def _insert_failure(self, row: dict[str, Any]) -> None:
        self._execute(_insert("failures", row), list(row.values()))

    # Reading
    def _ids_from(self, low: str, high: str, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT id FROM sessions WHERE id >= %s AND id < %s ORDER BY id LIMIT %s",
            [low, high, limit],
        )
        return [str(r[0]) for r in rows]

    def _sessions_by_id(self, ids: list[str]) -> dict[str, Session]:
        if not ids:
            return {}
        rows = self._rows(f"SELECT {_SESSION} FROM sessions WHERE id = ANY(%s)", [ids])
        return {s.id: s for s in (Session(*r) for r in rows)}

    def _sessions(
        self,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        clauses, params = _filters(live, user, node, since)
        sql = f"SELECT {_SESSION} FROM sessions {_where(clauses)} ORDER BY start DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self._rows(sql, params)]

    def page(
        self,
        *,
        status: str | None = None,
        user: str | None = None,
        node: str | None = None,
        after: Session | None = None,
        limit: int = 100,
    ) -> list[Session]:
        if status == "live":
            return []
        clauses, params = _filters(None, user, node, None)
        if status is None:
            clauses.append("status != 'live'")
        else:
            clauses.append("status = %s")
            params.append(status)
        if after is not None:
            clauses.append("(start, id) < (%s, %s)")
            params += [after.start, after.id]
        sql = (
            f"SELECT {_SESSION} FROM sessions {_where(clauses)} "
            f"ORDER BY start DESC, id DESC LIMIT {int(limit)}"
        )
        return [Session(*r) for r in self._rows(sql, params)]

    def session_count(self) -> int:
        return int(self._rows("SELECT count(*) FROM sessions")[0][0])

    def ended_since(self, since: float) -> list[Session]:
        rows = self._rows(
            f"SELECT {_SESSION} FROM sessions WHERE status != 'live' AND \"end\" >= %s "
            'AND recording_path IS NOT NULL ORDER BY "end"',
            [since],
        )
        return [Session(*r) for r in rows]

    def failures(
        self,
        *,
        kind: FailureKind | str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Failure]:
        clauses: list[str] = []
        params: list[Any] = []
        if kind is not None:
            clauses.append("kind = %s")
            params.append(FailureKind(kind).value)
        if since is not None:
            clauses.append('"time" >= %s')
            params.append(since)
        sql = f'SELECT {_FAILURE} FROM failures {_where(clauses)} ORDER BY "time" DESC'
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Failure(*r) for r in self._rows(sql, params)]

    def failure_summary(self, since: float, buckets: int, now: float) -> list[KindSummary]:
        width = (now - since) / buckets
        activity: dict[str, list[int]] = {}
        for kind, bucket, n in self._rows(
            'SELECT kind, floor(("time" - %s) / %s)::int AS b, count(*) FROM failures '
            'WHERE "time" >= %s GROUP BY kind, b',
            [since, width, since],
        ):
            row = activity.setdefault(kind, [0] * buckets)
            row[min(max(int(bucket), 0), buckets - 1)] += n
        rows = self._rows(
            'SELECT kind, count(*), max("time") FROM failures GROUP BY kind '
            "ORDER BY count(*) DESC, kind"
        )
        return [
            KindSummary(kind, int(count), last, activity.get(kind, [0] * buckets))
            for kind, count, last in rows
        ]

    def search(
        self,
        q: str,
        *,
        live: bool | None = None,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        limit: int | None = 50,
    ) -> list[SearchHit]:
        words = terms.parse_query(q)
        found = self._newest_matches(words, live, user, node, since, limit)
        if not found:
            return []
        texts = {
            rid: (t, text, times)
            for rid, t, text, times in self._rows(
                "SELECT id, t, text, times FROM session_text WHERE id = ANY(%s)",
                [[r for _, r in found]],
            )
        }
        sessions = self._sessions_by_id([sid for sid, _ in found])
        hits = []
        for sid, rid in found:
            if sid not in sessions or rid not in texts:
                continue  # removed since (a sample imported again)
            t, text, times = texts[rid]
            hit = terms.first_hit(text, words)
            if hit is None:
                hits.append(SearchHit(sessions[sid], float(t), ""))
            else:
                hits.append(SearchHit(sessions[sid], time_at(times, hit[0], float(t)), hit[1]))
        return hits

    def _search_sessions(
        self,
        q: str,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        found = self._newest_matches(terms.parse_query(q), live, user, node, since, limit)
        sessions = self._sessions_by_id([sid for sid, _ in found])
        return [sessions[sid] for sid, _ in found if sid in sessions]

    def _newest_matches(
        self,
        words: list[terms.Word],
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[tuple[str, int]]:
        query = _tsquery(words)
        candidates = _tsquery(words, phrases=False)
        if query is None or candidates is None:
            return []
        equal = tuple((c, v) for c, v in (('"user"', user), ("node", node)) if v is not None)
        filters = text_search.Filters(equal, since, live)
        found: dict[str, int] = {}
        for page in text_search.newest_first(
            self, text_search.TEXT, "session_id", query, candidates, filters, limit
        ):
            for sid, rid in page:
                found.setdefault(sid, rid)
                if limit is not None and len(found) >= limit:
                    return list(found.items())
        return list(found.items())

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

    # Text extraction's storage
    def text_state(self, session_id: str) -> TextState | None:
        rows = self._rows(
            "SELECT recording_path, status, text_offset, text_seq, text_t, text_carry, "
            "text_carry_t, text_done FROM sessions WHERE id = %s",
            [session_id],
        )
        if not rows:
            return None
        path, status, offset, seq, t, carry, carry_t, done = rows[0]
        return TextState(
            path, status, int(offset), int(seq), float(t), bytes(carry or b""), carry_t, bool(done)
        )

    def store_text(
        self, session_id: str, expected: int, state: TextState, rows: list[TextRow]
    ) -> bool:
        with self._transaction():
            now = self._rows(
                f"SELECT text_offset, {_cols(TEXT_ROW_COPIES)} FROM sessions "
                "WHERE id = %s FOR UPDATE",
                [session_id],
            )
            if not now or now[0][0] != expected:
                return False
            copied = now[0][1:]
            with self.conn.cursor() as cur:
                cur.executemany(  # inside _transaction: a lost server is one line
                    f"INSERT INTO session_text (session_id, t, text, terms, times, "
                    f"{_cols(TEXT_ROW_COPIES)}) "
                    "VALUES (%s, %s, %s, %s::tsvector, %s, %s, %s, %s)",
                    [
                        (session_id, t, _text(text), _tsvector(text), times or None, *copied)
                        for t, text, times in (TextRow(*row) for row in rows)
                    ],
                )
            self._execute(
                "UPDATE sessions SET text_offset = %s, text_seq = %s, text_t = %s, "
                "text_carry = %s, text_carry_t = %s, text_done = %s WHERE id = %s",
                [
                    state.offset,
                    state.seq,
                    state.t,
                    state.carry or None,
                    state.carry_t,
                    int(state.done),
                    session_id,
                ],
            )
        return True

    def pending_text(self) -> list[str]:
        rows = self._rows(
            "SELECT id FROM sessions WHERE text_done = 0 AND recording_path IS NOT NULL"
        )
        return [str(r[0]) for r in rows]

    def give_up_text(self, session_id: str) -> None:
        self._execute("UPDATE sessions SET text_done = 1 WHERE id = %s", [session_id])

    # Commands
    def store_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        with self._transaction():
            self._execute("DELETE FROM commands WHERE session_id = %s", [session_id])
            with self.conn.cursor() as cur:  # one round trip, not one a command
                cur.executemany(
                    'INSERT INTO commands (session_id, t, "time", line, context, "user", login, '
                    "node, terms) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::tsvector)",
                    [
                        (
                            c.session_id,
                            c.t,
                            c.time,
                            _text(c.line),
                            _text(c.context),
                            c.user,
                            c.login,
                            c.node,
                            _tsvector(c.line),
                        )
                        for c in commands
                    ],
                )
            self._execute("UPDATE sessions SET commands_done = 1 WHERE id = %s", [session_id])

    def pending_commands(self) -> list[str]:
        rows = self._rows(
            "SELECT id FROM sessions WHERE commands_done = 0 AND status != 'live' "
            "AND recording_path IS NOT NULL ORDER BY start"
        )
        return [str(r[0]) for r in rows]

    def commands(
        self,
        *,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        search: str | None = None,
        session_id: str | None = None,
        limit: int | None = 100,
    ) -> list[CommandRow]:
        columns = 'session_id, t, "time", line, context, "user", login, node'
        equal = tuple(
            (column, value)
            for column, value in (('"user"', user), ("node", node), ("session_id", session_id))
            if value is not None
        )
        if search is not None:
            words = terms.parse_query(search)
            query, candidates = _tsquery(words), _tsquery(words, phrases=False)
            if query is None or candidates is None:
                return []
            if session_id is None:
                # The newest indexed first, as the SQLite engine; the page in time order.
                filters = text_search.Filters(equal, since)
                found: list[CommandRow] = []
                for page in text_search.newest_first(
                    self, text_search.COMMANDS, columns, query, candidates, filters, limit
                ):
                    found += [CommandRow(*r[:-1]) for r in page]
                    if limit is not None and len(found) >= limit:
                        break
                found = found[:limit]
                found.sort(key=lambda c: c.time, reverse=True)
                return found
        clauses = [f"{column} = %s" for column, _ in equal]
        params: list[Any] = [value for _, value in equal]
        if since is not None:
            clauses.append('"time" >= %s')
            params.append(since)
        if search is not None:
            clauses.append("terms @@ %s::tsquery")
            params.append(query)
        order = "t" if session_id is not None else '"time" DESC, id DESC'
        sql = f"SELECT {columns} FROM commands {_where(clauses)} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [CommandRow(*r) for r in self._rows(sql, params)]

    # Terminations
    def _request_termination(self, session_id: str, by: str, reason: str) -> bool:
        cur = self._execute(
            "UPDATE sessions SET terminated_by = %s, termination_reason = %s "
            "WHERE id = %s AND status = 'live'",
            [by, _text(reason), session_id],
        )
        return cur.rowcount > 0

    def termination_requests(self, session_ids: list[str]) -> list[TerminationRequest]:
        if not session_ids:
            return []
        rows = self._rows(
            "SELECT id, terminated_by, termination_reason FROM sessions "
            "WHERE id = ANY(%s) AND status = 'live' AND terminated_by IS NOT NULL",
            [session_ids],
        )
        return [TerminationRequest(*r) for r in rows]

    # Retention
    def expired_sessions(self, ended_before: float, limit: int | None = None) -> list[Session]:
        sql = (
            f"SELECT {_SESSION} FROM sessions WHERE status != 'live' "
            'AND coalesce("end", start) < %s '
            "AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.session_id = sessions.id) "
            'ORDER BY coalesce("end", start), id'
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Session(*r) for r in self._rows(sql, [ended_before])]

    def remove_sessions(self, session_ids: list[str]) -> int:
        if not session_ids:
            return 0
        with self._transaction():
            over = [
                r[0]
                for r in self._rows(
                    "SELECT id FROM sessions WHERE id = ANY(%s) AND status != 'live' "
                    "AND id NOT IN (SELECT session_id FROM holds) FOR UPDATE",  # held: kept
                    [session_ids],
                )
            ]
            if not over:
                return 0
            self._execute("DELETE FROM session_text WHERE session_id = ANY(%s)", [over])
            self._execute("DELETE FROM commands WHERE session_id = ANY(%s)", [over])
            self._execute("DELETE FROM live_chunks WHERE session_id = ANY(%s)", [over])
            self._execute("DELETE FROM reviews WHERE session_id = ANY(%s)", [over])
            self._execute("DELETE FROM views WHERE session_id = ANY(%s)", [over])
            return self._execute("DELETE FROM sessions WHERE id = ANY(%s)", [over]).rowcount

    def count_failures(self, before: float) -> int:
        return int(self._rows('SELECT count(*) FROM failures WHERE "time" < %s', [before])[0][0])

    def remove_failures(self, before: float) -> int:
        return self._execute('DELETE FROM failures WHERE "time" < %s', [before]).rowcount

    # Live sessions seen from other machines
    shares_live = True

    def publish_live(self, session_id: str, chunk: LiveChunk) -> None:
        with self._transaction():
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

    # Recovery
    def _live_rows(self) -> list[LiveRow]:
        rows = self._rows(
            "SELECT id, owner, start, updated, recording_path FROM sessions WHERE status = 'live'"
        )
        return [LiveRow(*r) for r in rows]

    def _mark_interrupted(self, session_id: str, end: float, anchor: str | None) -> bool:
        cur = self._execute(
            "UPDATE sessions SET status = 'interrupted', \"end\" = %s, recording_hash = %s "
            "WHERE id = %s AND status = 'live'",
            [end, anchor, session_id],
        )
        return cur.rowcount > 0

    # Migration (auditor migrate)
    def copied_sessions(self, session_ids: list[str]) -> dict[str, Session]:
        rows = self._rows(
            f"SELECT {_SESSION} FROM sessions WHERE id = ANY(%s) "
            "AND text_done = 1 AND commands_done = 1",
            [session_ids],
        )
        return {s.id: s for s in (Session(*r) for r in rows)}

    def failure_ids(self, failure_ids: list[str]) -> set[str]:
        rows = self._rows("SELECT id FROM failures WHERE id = ANY(%s)", [failure_ids])
        return {str(r[0]) for r in rows}


def _cols(names: Sequence[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


_SESSION = _cols(SESSION_COLUMNS)
_FAILURE = _cols(FAILURE_COLUMNS)


def _insert(table: str, row: dict[str, Any]) -> Any:
    marks = ", ".join(["%s"] * len(row))
    return f"INSERT INTO {table} ({_cols(list(row))}) VALUES ({marks})"


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def _filters(
    live: bool | None,
    user: str | None,
    node: str | None,
    since: float | None,
    table: str = "",
) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if live is True:
        clauses.append(f"{table}status = 'live'")
    elif live is False:
        clauses.append(f"{table}status != 'live'")
    if user is not None:
        clauses.append(f'{table}"user" = %s')
        params.append(user)
    if node is not None:
        clauses.append(f"{table}node = %s")
        params.append(node)
    if since is not None:
        clauses.append(f"{table}start >= %s")
        params.append(since)
    return clauses, params


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


def _text(text: str) -> str:
    return text.replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL


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
