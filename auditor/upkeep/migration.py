"""One machine's store copied into the shared one (``auditor migrate``, DESIGN §11).

A machine that ran on the embedded defaults (SQLite and recording files in
its data directory) moves to a fleet's PostgreSQL index and bucket: every
session that is over, with its searchable text, its commands, its hash
anchor and who terminated it, and every failure with its id and time kept.
The local store is only read (but for marking sessions a dead proxy left
``live`` as ``interrupted``, as a proxy does when it starts).

It is resumable because each step can be done twice: an object already in
the bucket with its size is not sent again, a session is written whole in
one transaction (its text re-extracted from where the target row says the
recording is, which reads the upload back) and its commands in a second, and
a session already held whole with the same status, anchor and recording
location is skipped, as is a failure whose id is there. So a run cut off
anywhere (Ctrl-C, a killed process, a store gone away) is finished by
running it again, and nothing is copied twice.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor.index import Failure, Session, SessionIndex
from auditor.recording.format import (
    ANCHOR_SUFFIX,
    INDEX_SUFFIX,
    KEYFRAMES_SUFFIX,
    RecordingError,
)
from auditor.recording.reader import RecordingReader
from auditor.upkeep.recovery import recover_interrupted
from auditor.upkeep.text_extraction import insert_ended_with_text

if TYPE_CHECKING:
    from auditor.recording.bucket import Bucket

BATCH = 200  # sessions (or failures) looked up in the target at a time
SIDECAR_SUFFIXES = (INDEX_SUFFIX, KEYFRAMES_SUFFIX, ANCHOR_SUFFIX)
NOT_COPIED = ("id", "status")  # insert_ended takes these apart


@dataclass
class MigrationReport:
    """What a run copied, found already there, and left behind; a dry run counts
    what it would copy."""

    sessions: int = 0  # sessions that are over in the source: the work
    copied: int = 0
    present: int = 0  # already in the target whole: a resumed run
    not_copied: list[tuple[str, str]] = field(default_factory=list)  # id, why
    live: list[str] = field(default_factory=list)  # a proxy still writes them
    recovered: int = 0  # left live by a dead proxy, copied as interrupted
    failures: int = 0
    failures_copied: int = 0
    failures_present: int = 0
    uploaded: int = 0  # bytes sent to the bucket
    to_upload: int = 0  # a dry run: bytes it would send at most
    planned: list[Session] = field(default_factory=list)  # a dry run: what it would copy

    @property
    def done(self) -> int:
        return self.copied + self.present + len(self.not_copied)


def _nothing(_: Any) -> None:
    return None


class Migration:
    """Copies ``source`` into ``target``, the recordings into ``bucket`` if given
    (else the target rows keep naming the local files)."""

    def __init__(
        self,
        source: SessionIndex,
        target: SessionIndex,
        bucket: Bucket | None = None,
        *,
        dry_run: bool = False,
        note: Callable[[str], None] = _nothing,
        progress: Callable[[MigrationReport], None] = _nothing,
        every: int = 100,
    ) -> None:
        self.source = source
        self.target = target
        self.bucket = bucket
        self.dry_run = dry_run
        self.note = note
        self.progress = progress
        self.every = max(1, every)
        # Kept up to date as it goes: after an interruption it says how far it got.
        self.report = MigrationReport()

    def run(self) -> MigrationReport:
        report = self.report
        if not self.dry_run:
            report.recovered = recover_interrupted(self.source)
        report.live = [s.id for s in self.source.live_sessions()]
        report.sessions = self.source.session_count() - len(report.live)
        self._copy_failures()
        # Sessions whose commands the source has not read yet get them read here.
        unread = set(self.source.pending_commands())
        after: Session | None = None
        while page := self.source.page(after=after, limit=BATCH):
            self._copy_sessions(page, unread)
            after = page[-1]
        return report

    # Failures
    def _copy_failures(self) -> None:
        found = self.source.failures(limit=None)
        self.report.failures = len(found)
        for i in range(0, len(found), BATCH):
            batch = found[i : i + BATCH]
            there = self.target.failure_ids([f.id for f in batch])
            self.report.failures_present += len(there)
            for failure in batch:
                if failure.id in there:
                    continue
                if not self.dry_run:
                    copy_failure(self.target, failure)
                self.report.failures_copied += 1

    # Sessions
    def _copy_sessions(self, page: list[Session], unread: set[str]) -> None:
        where = {s.id: self.destination(s) for s in page}
        there = self.target.copied_sessions(list(where))
        for s in page:
            held = there.get(s.id)
            if held is not None and (held.status, held.recording_hash, held.recording_path) == (
                s.status,
                s.recording_hash,
                where[s.id],
            ):
                self.report.present += 1
            else:
                self._copy_session(s, where[s.id], s.id in unread)
            if self.report.done % self.every == 0:
                self.progress(self.report)
        if not self.dry_run:  # reviews, views and holds go with their sessions
            failed = {sid for sid, _ in self.report.not_copied}
            self.target.copy_marks(self.source, [s.id for s in page if s.id not in failed])

    def destination(self, s: Session) -> str | None:
        """Where the target row says the recording is: the object it is uploaded
        to, else where it is now."""
        if s.recording is None or s.recording.is_object or self.bucket is None:
            return s.recording_path
        return self.bucket.address.url(self.object_name(s))

    def object_name(self, s: Session) -> str:
        """The name the proxy's uploads give it: its path in the spool (``ab/ab12....rec``)."""
        path = s.recording.path if s.recording is not None else None
        try:
            if path is None:
                raise ValueError("not a file")
            return path.relative_to(self.source.recordings_dir).as_posix()
        except ValueError:
            return f"{s.id[:2]}/{s.id}.rec"

    def _copy_session(self, s: Session, where: str | None, unread: bool) -> None:
        local = s.recording.path if s.recording is not None else None
        try:
            if local is not None:
                RecordingReader(local)  # a missing or broken file is this session's problem
            if self.dry_run:
                if local is not None and self.bucket is not None:
                    self.report.to_upload += sum(p.stat().st_size for p in recording_files(local))
                self.report.planned.append(s)
            else:
                self._write(s, where, local, unread)
        except (RecordingError, OSError) as exc:
            self.report.not_copied.append((s.id, str(exc)))
            self.note(f"session {s.id[:8]} not copied: {exc}")
            return
        self.report.copied += 1

    def _write(self, s: Session, where: str | None, local: Path | None, unread: bool) -> None:
        if local is not None and self.bucket is not None:
            _, sent = self.bucket.upload_missing(local, self.object_name(s))
            self.report.uploaded += sent
        fields = {k: v for k, v in dataclasses.asdict(s).items() if k not in NOT_COPIED}
        fields["recording_path"] = where
        # The row and its text (read from `where`) in one transaction.
        insert_ended_with_text(self.target, s.id, s.status, **fields)
        if unread:
            from auditor.upkeep.command_extraction import extract_commands

            extract_commands(self.target, s.id)
        else:
            self.target.store_commands(s.id, self.source.commands(session_id=s.id, limit=None))


def copy_failure(target: SessionIndex, failure: Failure) -> None:
    """The failure as it was: its id, time, hint and extra fields kept."""
    fields = dataclasses.asdict(failure)
    kind, message, hint = fields.pop("kind"), fields.pop("message"), fields.pop("hint")
    extra = fields.pop("extra")
    # record_failure keeps fields it has no column for as this JSON again.
    more: dict[str, Any] = json.loads(extra) if extra else {}
    target.record_failure(kind, message, hint, **more, **fields)


def recording_files(path: Path) -> list[Path]:
    """A recording and the sidecars beside it."""
    found = [path.with_name(path.name + s) for s in SIDECAR_SUFFIXES]
    return [path, *(p for p in found if p.exists())]
