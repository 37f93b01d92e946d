"""The one index interface every part of auditor uses, whatever engine stores it.

``SessionIndex`` holds what is the same on every engine (which fields a
session may have, how an id prefix is checked, what the recording's hash
anchor is, whose live sessions are orphans) and leaves each query to the
engine: SQLite in the data directory (``auditor.index.sqlite``) or a
shared PostgreSQL (``auditor.index.postgres``). Nothing outside
``auditor/index`` writes SQL; a second engine is a second subclass.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from auditor.errors import AuditorError
from auditor.index.failure_kinds import FailureKind
from auditor.index.marks import SessionMarks
from auditor.index.owner import current_owner
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
from auditor.recording.format import RecordingError
from auditor.recording.reader import RecordingReader
from auditor.storage import RECORDINGS_DIR

if TYPE_CHECKING:
    from auditor.recording.anchor import SignedAnchor

log = logging.getLogger("auditor.index")

# Who ended a session and why are set by ask_termination only.
SETTABLE = frozenset(SESSION_COLUMNS) - {
    "id",
    "status",
    "recording_hash",
    "owner",
    "terminated_by",
    "termination_reason",
    "anchor_statement",
    "anchor_signature",
    "anchor_key",
}
_HEX = re.compile(r"[0-9a-f]+")
ENDED = ("ended", "interrupted")
# A proxy renews its lease every few seconds; one not renewed for this long is gone.
LEASE = 30.0
WATCH_TERM = 15.0  # a follower elsewhere renews its interest every few seconds


class LiveWakeups(Protocol):
    """Which sessions published output since the last look (``live_listener``)."""

    def poll(self, timeout: float = 0.0) -> set[str]: ...

    def close(self) -> None: ...


class SessionIndex(SessionMarks, ABC):
    """Sessions, failures and the text sessions printed, on one engine."""

    # Errors of this engine that mean "try again later" (a lock, a lost connection).
    TRANSIENT: tuple[type[Exception], ...] = ()

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._owner = current_owner()

    @classmethod
    def open(cls, data_dir: Path, *, uri: str | None = None) -> SessionIndex:
        """The index ``uri`` names (``storage.audit_events_uri``); SQLite in ``data_dir``
        without one. It stores; the work over it (text and command extraction,
        recovery, retention) is ``auditor.upkeep``'s."""
        from auditor.index.engines import open_index

        return open_index(data_dir, uri)

    @abstractmethod
    def reopen(self) -> SessionIndex:
        """Another connection to the same store, for another thread."""

    @property
    def owner(self) -> str:
        """This process, as the live rows it carries name it."""
        return self._owner

    @abstractmethod
    def transaction(self) -> AbstractContextManager[object]:
        """Many writes committed as one; inside another one it joins it."""

    def close(self) -> None:
        self._close()

    @abstractmethod
    def _close(self) -> None: ...

    def __enter__(self) -> SessionIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Recordings
    @property
    def recordings_dir(self) -> Path:
        return self.data_dir / RECORDINGS_DIR

    def recording_path(self, session_id: str) -> Path:
        """Where a new session's recording goes; needs no database access."""
        return self.recordings_dir / session_id[:2] / f"{session_id}.rec"

    @staticmethod
    def new_session_id() -> str:
        return uuid.uuid4().hex

    # Writing sessions (the proxy, a few calls per session)
    def start_session(self, session_id: str | None = None, **fields: Any) -> str:
        """Insert a ``live`` session row; returns its id. ``start`` defaults to now."""
        row = _session_fields(fields)
        row.setdefault("start", time.time())
        row.update(
            id=session_id or self.new_session_id(),
            status=fields.get("status", "live"),
            owner=self._owner,
            updated=time.time(),
            text_done=0 if row.get("recording_path") else 1,
        )
        self._insert_session(row)
        return str(row["id"])

    def update_session(self, session_id: str, **fields: Any) -> None:
        row = _session_fields(fields)
        row["updated"] = time.time()
        self._update_session(session_id, row)

    def end_session(
        self,
        session_id: str,
        status: str = "ended",
        exit_status: int | None = None,
        end: float | None = None,
        anchor: str | None = None,
        signed: SignedAnchor | None = None,
        **fields: Any,
    ) -> None:
        """Close the row; the recording's last hash is kept as verify's anchor
        (``anchor``, from the writer that sealed it, else read off the file),
        with its signature when the proxy that sealed it signed it (``signed``)."""
        if status not in ENDED:
            raise ValueError(f"end_session: status must be ended or interrupted, not {status!r}")
        row = _session_fields(fields)
        row.update(status=status, end=end if end is not None else time.time())
        if exit_status is not None:
            row["exit_status"] = exit_status
        if signed is not None:
            row.update(
                anchor_statement=signed.statement,
                anchor_signature=signed.signature,
                anchor_key=signed.key,
            )
        if anchor is not None:
            row["recording_hash"] = anchor
        else:
            try:
                path = self._session(session_id).recording_path
            except AuditorError:
                path = None
            if path:
                row["recording_hash"] = _final_hash(Path(path))
        row["updated"] = time.time()
        self._update_session(session_id, row)

    def insert_ended(self, session_id: str, status: str = "ended", **fields: Any) -> None:
        """A whole finished session at once (an import, a bundled sample).

        A row with the same id (a sample imported again) is replaced, its old
        text with it. ``auditor.upkeep.text_extraction.insert_ended_with_text``
        adds its searchable text in the same transaction.
        """
        if status not in ENDED:
            raise ValueError(f"insert_ended: status must be ended or interrupted, not {status!r}")
        if "start" not in fields:
            raise TypeError("insert_ended: start is required")
        unknown = set(fields) - set(SESSION_COLUMNS)
        if unknown:
            raise TypeError(f"unknown session fields: {', '.join(sorted(unknown))}")
        row = dict(fields)
        row.update(id=session_id, status=status, updated=time.time(), text_done=0)
        self._insert_ended(row)

    @abstractmethod
    def _insert_session(self, row: dict[str, Any]) -> None: ...

    @abstractmethod
    def _update_session(self, session_id: str, row: dict[str, Any]) -> None: ...

    @abstractmethod
    def _insert_ended(self, row: dict[str, Any]) -> None:
        """Replace the row and remove its old text, in one transaction."""

    # Failures
    def record_failure(
        self, kind: FailureKind | str, message: str, hint: str | None = None, **fields: Any
    ) -> str:
        """Insert a failure row; ``hint`` defaults to the kind's remediation hint."""
        kind = FailureKind(kind)
        known = {k: v for k, v in fields.items() if k in FAILURE_COLUMNS}
        extra = {k: v for k, v in fields.items() if k not in FAILURE_COLUMNS}
        row = {
            "id": uuid.uuid4().hex,
            "time": time.time(),
            **known,
            "kind": kind.value,
            "message": message,
            "hint": hint or kind.hint,
            "extra": json.dumps(extra, default=str) if extra else None,
        }
        self._insert_failure(row)
        return str(row["id"])

    @abstractmethod
    def _insert_failure(self, row: dict[str, Any]) -> None: ...

    # Reading
    def resolve_id(self, prefix: str) -> str:
        """The full session id for a unique prefix."""
        p = prefix.strip().lower()
        if not p or not _HEX.fullmatch(p):
            raise AuditorError(f"unknown session ID {prefix!r}: IDs are hexadecimal")
        ids = self._ids_from(p, p + "g", 6)
        if not ids:
            raise AuditorError(f"unknown session ID {prefix!r}")
        if len(ids) > 1:
            shown = ", ".join(i[: len(p) + 4] for i in ids[:5])
            more = " and more" if len(ids) > 5 else ""
            raise AuditorError(
                f"ambiguous session ID {prefix!r}: matches {shown}{more}; give more of it"
            )
        return ids[0]

    @abstractmethod
    def _ids_from(self, low: str, high: str, limit: int) -> list[str]:
        """Ids in ``[low, high)``, in order: the ones a prefix names."""

    def get_session(self, session_id: str) -> Session:
        """The row for a full id or a unique prefix."""
        return self._session(self.resolve_id(session_id))

    def _session(self, full_id: str) -> Session:
        found = self._sessions_by_id([full_id])
        if full_id not in found:
            raise AuditorError(f"unknown session ID {full_id!r}")
        return found[full_id]

    @abstractmethod
    def _sessions_by_id(self, ids: list[str]) -> dict[str, Session]: ...

    def sessions(
        self,
        *,
        live: bool | None = None,
        user: str | None = None,
        node: str | None = None,
        since: float | None = None,
        search: str | None = None,
        limit: int | None = 100,
    ) -> list[Session]:
        """Newest first. With ``search``, only sessions whose text matches, in the
        order ``search`` gives them."""
        if search:
            return self._search_sessions(search, live, user, node, since, limit)
        return self._sessions(live, user, node, since, limit)

    @abstractmethod
    def _sessions(
        self,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]: ...

    @abstractmethod
    def _search_sessions(
        self,
        q: str,
        live: bool | None,
        user: str | None,
        node: str | None,
        since: float | None,
        limit: int | None,
    ) -> list[Session]:
        """``search``'s sessions without their matching lines, which cost more to find
        than the sessions do."""

    def live_sessions(self, *, user: str | None = None, node: str | None = None) -> list[Session]:
        return self.sessions(live=True, user=user, node=node, limit=None)

    @abstractmethod
    def page(
        self,
        *,
        status: str | None = None,
        user: str | None = None,
        node: str | None = None,
        after: Session | None = None,
        limit: int = 100,
    ) -> list[Session]:
        """Sessions that are over, newest first, the ``limit`` after ``after``.

        Keyset paging on ``(start, id)``: page 50 of a long list costs what
        page 1 does, where ``OFFSET`` would scan every row before it.
        """

    @abstractmethod
    def session_count(self) -> int: ...

    @abstractmethod
    def ended_since(self, since: float) -> list[Session]:
        """Sessions with a recording that ended (or were interrupted) at ``since`` or later,
        in the order they ended: what background upkeep has not seen yet."""

    @abstractmethod
    def failures(
        self,
        *,
        kind: FailureKind | str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Failure]: ...

    @abstractmethod
    def failure_summary(self, since: float, buckets: int, now: float) -> list[KindSummary]:
        """Per kind: count, latest, and failures per bucket from ``since`` to ``now``;
        most frequent first."""

    @abstractmethod
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
        """Sessions whose printed text matches ``q`` (every word; ``foo*`` a prefix),
        newest text first, each with its first matching line."""

    def search_hits(self, session_id: str, q: str, limit: int = 1000) -> list[tuple[float, str]]:
        """Where in one session ``q`` matches: ``(t, line)`` in recording order."""
        return self._session_hits(self.resolve_id(session_id), q, limit)

    @abstractmethod
    def _session_hits(self, session_id: str, q: str, limit: int) -> list[tuple[float, str]]: ...

    # Text extraction's storage (auditor.upkeep.text_extraction drives it)
    @abstractmethod
    def text_state(self, session_id: str) -> TextState | None:
        """Where extraction of one session stopped; None for an unknown session."""

    @abstractmethod
    def store_text(
        self, session_id: str, expected: int, state: TextState, rows: list[TextRow]
    ) -> bool:
        """Add text rows and move the position on, atomically; False (and nothing
        written) if the stored offset is no longer ``expected``: another extractor
        got there first. Inside ``insert_ended`` it joins that transaction."""

    @abstractmethod
    def pending_text(self) -> list[str]:
        """Sessions with a recording whose text is not fully indexed."""

    @abstractmethod
    def give_up_text(self, session_id: str) -> None:
        """Stop retrying a session whose recording cannot be read."""

    # Commands (auditor.upkeep.command_extraction drives their extraction)
    @abstractmethod
    def store_commands(self, session_id: str, commands: list[CommandRow]) -> None:
        """A session's commands, replacing any stored before, and the session
        marked done (also with none: a recording that can't be read)."""

    @abstractmethod
    def pending_commands(self) -> list[str]:
        """Sessions that have ended with a recording whose commands are not read yet."""

    @abstractmethod
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
        """Commands newest first (a session's in the order they ran); ``search``
        has the syntax of the sessions' search, and its page is of the
        sessions read most recently (they end in about that order), in time
        order."""

    # Terminating a live session (`auditor terminate`, the TUI)
    def ask_termination(self, session_id: str, by: str, reason: str) -> bool:
        """Record who asks to end a live session and why (the rules of who may be
        ended are ``auditor.upkeep.termination``'s): only if still live; True if
        this call recorded it."""
        return self._request_termination(session_id, by, reason)

    @abstractmethod
    def _request_termination(self, session_id: str, by: str, reason: str) -> bool:
        """Only if still live; True if this call recorded it."""

    @abstractmethod
    def termination_requests(self, session_ids: list[str]) -> list[TerminationRequest]:
        """The live sessions among ``session_ids`` an auditor asked to end."""

    # Retention (auditor.upkeep.retention drives it)
    @abstractmethod
    def expired_sessions(self, ended_before: float, limit: int | None = None) -> list[Session]:
        """Sessions that ended (or were interrupted) before ``ended_before``, oldest
        first; never a live one."""

    @abstractmethod
    def remove_sessions(self, session_ids: list[str]) -> int:
        """Rows, text and commands of sessions that are over, in one transaction; a
        live one among them is left alone. Returns how many rows went."""

    @abstractmethod
    def count_failures(self, before: float) -> int:
        """Failures older than ``before``."""

    @abstractmethod
    def remove_failures(self, before: float) -> int:
        """Failures older than ``before``; returns how many went."""

    # Live sessions seen from other machines (a shared engine only: on one
    # machine a live recording is a file every reader can follow)
    shares_live = False

    def publish_live(self, session_id: str, chunk: LiveChunk) -> None:
        """Bytes a live session's recording gained, for followers elsewhere, and a
        wake-up for them."""
        raise NotImplementedError(f"{type(self).__name__} keeps live output on this machine")

    def live_chunks(self, session_id: str, offset: int) -> list[LiveChunk]:
        """Published chunks of a session's recording from ``offset`` on, in order;
        a limited batch, so call again until it is empty."""
        return []

    def watch_live(self, session_id: str, viewer: str, term: float = WATCH_TERM) -> None:
        """``viewer`` follows a live session from elsewhere for ``term`` seconds more:
        its proxy publishes it meanwhile (and nothing nobody follows)."""
        raise NotImplementedError(f"{type(self).__name__} keeps live output on this machine")

    def watched(self, session_ids: list[str]) -> set[str]:
        """Those of ``session_ids`` someone follows from elsewhere now."""
        return set()

    def live_listener(self) -> LiveWakeups | None:
        """Wake-ups for published output, on a connection of its own; None without."""
        return None

    def forget_live(self, ended_before: float) -> int:
        """Published bytes no follower needs any more: sessions over before
        ``ended_before`` whose recording can be read where it now is. Returns
        how many chunks went."""
        return 0

    def renew_lease(self, address: str | None = None, term: float = LEASE) -> None:
        """This process still carries its live sessions, for ``term`` seconds more.

        On one machine the owner's PID says that (``owner_alive``); a shared
        engine keeps leases, so a surviving proxy can tell another machine's
        proxy is gone."""
        return None

    def _leases(self) -> dict[str, float]:
        """When each owner's lease runs out."""
        return {}

    # Recovery (auditor.upkeep.recovery decides who is gone)
    def leases(self) -> dict[str, float]:
        """When each owner's lease runs out."""
        return self._leases()

    def live_rows(self) -> list[LiveRow]:
        """Every session row still marked live, whoever carries it."""
        return self._live_rows()

    def mark_interrupted(self, session_id: str, end: float, anchor: str | None) -> bool:
        """Only if still live; True if this call changed it."""
        return self._mark_interrupted(session_id, end, anchor)

    @abstractmethod
    def _live_rows(self) -> list[LiveRow]: ...

    @abstractmethod
    def _mark_interrupted(self, session_id: str, end: float, anchor: str | None) -> bool:
        """Only if still live; True if this call changed it."""

    # Migration (auditor migrate)
    @abstractmethod
    def copied_sessions(self, session_ids: list[str]) -> dict[str, Session]:
        """The sessions among ``session_ids`` held here whole: the row, its text and
        its commands stored (what a resumed ``auditor migrate`` need not copy again)."""

    @abstractmethod
    def failure_ids(self, failure_ids: list[str]) -> set[str]:
        """The failures among ``failure_ids`` that are here."""


def _session_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = set(fields) - SETTABLE - {"status"}
    if unknown:
        raise TypeError(f"unknown session fields: {', '.join(sorted(unknown))}")
    return {k: v for k, v in fields.items() if k != "status"}


def _final_hash(path: Path) -> str | None:
    try:
        return RecordingReader(path).summary().final_hash
    except RecordingError as exc:
        log.warning("no hash anchor for %s: %s", path, exc)
        return None
