"""Who watched whom, reviews and holds: each goes to the index and the audit log.

The index row is what ``auditor sessions --json`` and the app show; the audit
log line (``DATA_DIR/audit.log``, where the proxy writes its own) is for log
shippers, so a viewer's trail leaves the machine with everything else. The
viewer is the OS user running the command or the app (``os_user``).
"""

from __future__ import annotations

from pathlib import Path

from auditor.audit_log import AuditLog
from auditor.index import SessionIndex
from auditor.index.marks import Hold, Review
from auditor.index.owner import os_user
from auditor.replay.moment import reference

AUDIT_LOG = "audit.log"


def _log(data_dir: Path, event: str, **fields: object) -> None:
    audit = AuditLog(Path(data_dir) / AUDIT_LOG)
    try:
        audit.write(event, **fields)
    finally:
        audit.close()


def viewed(
    index: SessionIndex,
    data_dir: Path,
    session_id: str,
    what: str,
    t: float | None = None,
    viewer: str | None = None,
) -> None:
    """``viewer`` (this OS user) viewed a session: replay, export, tail, follow or review."""
    viewer = viewer or os_user()
    view = index.record_view(session_id, viewer, what)
    _log(
        data_dir,
        "session_viewed",
        viewer=viewer,
        session=session_id,
        what=view.what,
        moment=reference(session_id, t) if t is not None else None,
    )


def reviewed(
    index: SessionIndex,
    data_dir: Path,
    session_id: str,
    note: str | None = None,
    t: float | None = None,
    reviewer: str | None = None,
) -> Review:
    """A review (never edited, one more beside any others), and the view it took."""
    reviewer = reviewer or os_user()
    review = index.add_review(session_id, reviewer, note, t)
    _log(
        data_dir,
        "session_reviewed",
        reviewer=reviewer,
        session=session_id,
        note=review.note,
        moment=reference(session_id, t) if t is not None else None,
    )
    viewed(index, data_dir, session_id, "review", t, reviewer)
    return review


def held(index: SessionIndex, data_dir: Path, session_id: str, reason: str) -> Hold:
    hold = index.hold(session_id, os_user(), reason)
    _log(data_dir, "session_held", by=hold.held_by, session=session_id, reason=reason)
    return hold


def released(
    index: SessionIndex, data_dir: Path, session_id: str, reason: str | None = None
) -> Hold:
    """The hold that went; the line says who released it and why, and whose hold it was."""
    hold = index.release(session_id)
    _log(
        data_dir,
        "session_released",
        by=os_user(),
        session=session_id,
        reason=reason,
        held_by=hold.held_by,
        hold_reason=hold.reason,
    )
    return hold
