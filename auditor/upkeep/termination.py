"""Ending a live session from anywhere (``auditor terminate``, the app's key).

The request is the session's row: every proxy looks for requests among the
sessions it carries on its flush timer (``auditor.proxy.terminations``), so
this works from any process on any machine that reaches the index. Only a
live session channel can be ended: shells, commands and subsystems, what
the proxy bridges. Once the session has ended the row still says who ended
it and why.
"""

from __future__ import annotations

from auditor.errors import AuditorError
from auditor.index import Session, SessionIndex

NO_REASON = "no reason given"
TERMINABLE = ("session",)  # shells, commands, subsystems: what the proxy bridges


def request_termination(
    index: SessionIndex, session_id: str, by: str, reason: str | None = None
) -> Session:
    """Ask whichever proxy carries a live session to end it; returns the row."""
    session = index.get_session(session_id)
    check_terminable(session)
    if not index.ask_termination(session.id, by, reason or NO_REASON):
        check_terminable(index.get_session(session.id))  # it ended meanwhile
    return index.get_session(session.id)


def check_terminable(session: Session) -> None:
    """One line saying why ``session`` cannot be ended, if it cannot."""
    short = session.id[:8]
    if session.status == "interrupted":
        raise AuditorError(f"session {short} is not live: it was interrupted")
    if not session.live:
        raise AuditorError(f"session {short} is not live: it has already ended")
    if session.kind not in TERMINABLE:
        raise AuditorError(
            f"session {short} is a {session.kind or 'connection'} row, not a session channel: "
            "only shells, commands and subsystems can be terminated"
        )
