"""The retention policy applied (``retention:`` in the config): ``auditor prune``,
and every proxy at start and once a day (``apply_daily``).

What goes: sessions that ended (or were interrupted) before the policy's
cut-off, with their rows, text, commands and recording files (the ``.rec``
and the sidecars named after it: ``.idx``, ``.keyframes``, ``.anchor``), or their objects
when the recording was uploaded to a bucket, and failures older than theirs.
Never a live session, however old. What went is written to the audit log: a
line per session and one with the counts.

A session's objects go before its rows: a bucket that fails part way leaves
the rows of the sessions it still holds, so the next prune finds them and
tries again (an object already gone counts as deleted).

The proxy's daily pass runs on a thread of its own with its own index
connection, never on the event loop or the index writer's thread. A bucket
that fails keeps its sessions' rows for the next day's try.
"""

from __future__ import annotations

import asyncio
import glob
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.audit_log import AuditLog
from auditor.config import Config, Retention
from auditor.errors import AuditorError
from auditor.index import Session, SessionIndex
from auditor.storage import BucketAddress, StorageError

if TYPE_CHECKING:
    from auditor.recording.bucket import Bucket, StoredObject

log = logging.getLogger("auditor.proxy")
BATCH = 500  # sessions per transaction: a long prune never holds the index for long


@dataclass
class PruneReport:
    sessions_before: float | None  # the cut-offs; None: kept for good
    failures_before: float | None
    sessions: list[Session] = field(default_factory=list)
    failures: int = 0
    files: int = 0
    bytes: int = 0
    objects: int = 0  # of recordings uploaded to a bucket (with a dry run: still there)
    object_bytes: int = 0
    # Each file (its path) and object (``object KEY``) removed, or with a dry
    # run to be removed, with its size: what `prune --dry-run` lists.
    stored: list[tuple[str, int]] = field(default_factory=list)


def recording_files(session: Session) -> list[Path]:
    """A session's recording and its sidecars, as they are on disk now."""
    if session.recording is None or session.recording.path is None:
        return []  # not recorded, or an object (removed from its bucket)
    rec = session.recording.path
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
    """Remove what the policy no longer keeps; with ``dry_run``, only say what.

    A bucket that fails is a ``StorageError`` once the failures are done and the
    audit log has the counts of what went before it."""
    now = time.time() if now is None else now
    report = PruneReport(
        None if policy.sessions is None else now - policy.sessions,
        None if policy.failures is None else now - policy.failures,
    )
    objects = RecordingObjects()
    error: StorageError | None = None
    if report.sessions_before is not None:
        if dry_run:
            for s in index.expired_sessions(report.sessions_before):
                _count(report, s, objects.stored(s), remove=False)
        else:
            try:
                _remove_sessions(index, report.sessions_before, report, objects, audit)
            except StorageError as exc:
                error = exc
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
            objects=report.objects,
            object_bytes=report.object_bytes,
            sessions_before=report.sessions_before,
            failures_before=report.failures_before,
            error=None if error is None else str(error),
        )
    if error is not None:
        raise error
    return report


def _remove_sessions(
    index: SessionIndex,
    before: float,
    report: PruneReport,
    objects: RecordingObjects,
    audit: AuditLog | None,
) -> None:
    while batch := index.expired_sessions(before, limit=BATCH):
        went: list[tuple[Session, list[StoredObject]]] = []
        error: StorageError | None = None
        for s in batch:
            try:
                went.append((s, objects.delete(s)))
            except StorageError as exc:
                error = exc  # this one's rows stay, and the rest of the batch's
                break
        if went and not index.remove_sessions([s.id for s, _ in went]):
            break  # another pruner took them
        for s, stored in went:
            _count(report, s, stored, remove=True)
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
        if error is not None:
            raise error


class RecordingObjects:
    """The buckets pruned sessions' recordings are in (each ``recording_path``
    names its own), a client for each, kept for the whole prune."""

    def __init__(self) -> None:
        self._buckets: dict[BucketAddress, Bucket] = {}

    def stored(self, session: Session) -> list[StoredObject]:
        found = self._find(session)
        return [] if found is None else found[0].stored(found[1])

    def delete(self, session: Session) -> list[StoredObject]:
        found = self._find(session)
        return [] if found is None else found[0].delete(found[1])

    def _find(self, session: Session) -> tuple[Bucket, str] | None:
        url = session.recording.url if session.recording is not None else None
        if url is None:
            return None
        from auditor.recording.bucket import Bucket, object_address  # obstore: only for objects

        address, key = object_address(url)
        if address not in self._buckets:
            self._buckets[address] = Bucket(address)
        return self._buckets[address], key


def _count(report: PruneReport, session: Session, stored: list[StoredObject], remove: bool) -> None:
    report.sessions.append(session)
    report.objects += len(stored)
    report.object_bytes += sum(o.size for o in stored)
    report.stored += [(f"object {o.key}", o.size) for o in stored]
    for path in recording_files(session):
        try:
            size = path.stat().st_size
            if remove:
                path.unlink()
        except FileNotFoundError:
            continue  # removed meanwhile (another pruner)
        report.bytes += size
        report.files += 1
        report.stored.append((str(path), size))


# The proxy's pass: once at start, then once a day
INTERVAL = 86400.0


async def apply_daily(current: Callable[[], Config], data_dir: Path, audit: AuditLog) -> None:
    """The policy of the config in force at each pass (``current``): a reload
    (SIGHUP) that changes ``retention`` applies from the next day's pass on."""
    while True:
        config = current()
        if not config.retention.any:
            await asyncio.sleep(INTERVAL)
            continue
        try:
            report = await asyncio.to_thread(apply_once, config, data_dir, audit)
        except (AuditorError, OSError) as exc:  # the index or bucket away, a file we may not remove
            log.warning("retention: %s; trying again in a day", exc)
        else:
            if report.sessions or report.failures:
                log.info(
                    "retention: removed %s sessions (%s files, %s objects) and %s failures",
                    len(report.sessions),
                    report.files,
                    report.objects,
                    report.failures,
                )
        await asyncio.sleep(INTERVAL)


def apply_once(config: Config, data_dir: Path, audit: AuditLog) -> PruneReport:
    """One pass of ``config``'s policy, on a connection of its own."""
    with SessionIndex.open(data_dir, uri=config.storage.audit_events_uri) as index:
        return prune(index, config.retention, audit)
