"""The retention policy applied (``retention:`` in the config): ``auditor prune``,
and every proxy at start and once a day.

What goes: sessions that ended (or were interrupted) before the policy's
cut-off, with their rows, text, commands and recording files (the ``.rec``
and the sidecars named after it: ``.idx``, ``.keyframes``), and failures
older than theirs. Never a live session, however old. What went is written
to the audit log: a line per session and one with the counts.
"""

from __future__ import annotations

import glob
import time
from dataclasses import dataclass, field
from pathlib import Path

from auditor.config import Retention
from auditor.index import Session, SessionIndex
from auditor.proxy.audit_log import AuditLog
from auditor.recording.source import object_url

BATCH = 500  # sessions per transaction: a long prune never holds the index for long


@dataclass
class PruneReport:
    sessions_before: float | None  # the cut-offs; None: kept for good
    failures_before: float | None
    sessions: list[Session] = field(default_factory=list)
    failures: int = 0
    files: int = 0
    bytes: int = 0
    # Recordings uploaded to object storage: their objects are the bucket's to expire.
    objects: list[str] = field(default_factory=list)


def recording_files(session: Session) -> list[Path]:
    """A session's recording and its sidecars, as they are on disk now."""
    if not session.recording_path or object_url(session.recording_path):
        return []
    rec = Path(session.recording_path)
    sidecars = rec.parent.glob(glob.escape(rec.name) + ".*")
    return [p for p in (rec, *sorted(sidecars)) if p.is_file()]


def prune(
    index: SessionIndex,
    policy: Retention,
    audit: AuditLog | None = None,
    *,
    now: float | None = None,
    dry_run: bool = False,
) -> PruneReport:
    """Remove what the policy no longer keeps; with ``dry_run``, only say what."""
    now = time.time() if now is None else now
    report = PruneReport(
        None if policy.sessions is None else now - policy.sessions,
        None if policy.failures is None else now - policy.failures,
    )
    if report.sessions_before is not None:
        if dry_run:
            for s in index.expired_sessions(report.sessions_before):
                _count(report, s, remove=False)
        else:
            while batch := index.expired_sessions(report.sessions_before, limit=BATCH):
                if not index.remove_sessions([s.id for s in batch]):
                    break  # another pruner took them
                for s in batch:
                    _count(report, s, remove=True)
                    if audit is not None:
                        audit.write(
                            "session_pruned",
                            session_id=s.id,
                            user=s.user,
                            login=s.login,
                            node=s.node,
                            start=s.start,
                            end=s.end,
                            status=s.status,
                            recording=s.recording_path,
                        )
    if report.failures_before is not None:
        if dry_run:
            report.failures = index.count_failures(report.failures_before)
        else:
            report.failures = index.remove_failures(report.failures_before)
    if audit is not None and not dry_run:
        audit.write(
            "prune",
            sessions=len(report.sessions),
            failures=report.failures,
            files=report.files,
            bytes=report.bytes,
            objects_kept=len(report.objects) or None,
            sessions_before=report.sessions_before,
            failures_before=report.failures_before,
        )
    return report


def _count(report: PruneReport, session: Session, remove: bool) -> None:
    report.sessions.append(session)
    url = object_url(session.recording_path or "")
    if url is not None:
        report.objects.append(url)
    for path in recording_files(session):
        try:
            report.bytes += path.stat().st_size
            if remove:
                path.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile (another pruner)
        report.files += 1
