"""Sealed recordings leave the local spool for the bucket (DESIGN §11).

The proxy writes every live recording to its spool (the data directory's
``recordings/``) exactly as without a bucket: the hot path never waits on the
network. A pass over the spool, from the proxy's flush loop and once at
start, uploads each recording its writer has sealed (and, at start, whatever
a previous run left: those sessions are over), then points the index's
``recording_path`` at the object, and only then removes the local files. If
the store is away, the files stay and a later pass tries again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

from auditor.config import Config
from auditor.recording import RecordingError, RecordingReader
from auditor.recording.format import ANCHOR_SUFFIX, INDEX_SUFFIX, KEYFRAMES_SUFFIX
from auditor.storage import RECORDINGS_DIR, StorageError, sessions_bucket

log = logging.getLogger("auditor.proxy")
RETRY_INTERVAL = 5.0  # between passes while the store is away
# The text child builds a sealed recording's keyframes a moment after it ends; an upload
# waits that long for them so they travel with it (replay builds them if they don't).
KEYFRAMES_WAIT = 10.0
SIDECARS = (INDEX_SUFFIX, KEYFRAMES_SUFFIX, ANCHOR_SUFFIX)


class IndexCalls(Protocol):
    """What a pass writes to the index (``IndexWriter``): kept while the index is away."""

    def update_session(self, session_id: str, **fields: Any) -> Future[None]: ...


class Uploads:
    """The spool's way to the bucket; ``None`` from ``open_uploads`` without one."""

    def __init__(self, config: Config, data_dir: Path) -> None:
        from auditor.recording.bucket import Bucket  # only with a bucket configured

        self.bucket = Bucket(str(config.storage.audit_sessions_uri))
        self.spool = data_dir / RECORDINGS_DIR
        self._task: asyncio.Task[None] | None = None
        self._leftovers: set[Path] | None = None  # a previous run's files, found at start
        self._next_try = 0.0

    def check(self) -> None:
        """At start: the bucket is there and answers (one line naming the key if not)."""
        self.bucket.check()
        self._leftovers = set(self._spooled())

    def _spooled(self) -> list[Path]:
        return sorted(self.spool.glob("*/*.rec"))

    def tick(self, index: IndexCalls, live: Iterable[Path]) -> None:
        """From the flush loop: start a pass unless one runs or the store just failed."""
        if self._task is not None and not self._task.done():
            return
        if time.monotonic() < self._next_try:
            return
        self._task = asyncio.get_running_loop().create_task(self.upload_pass(index, set(live)))

    async def drain(self, index: IndexCalls) -> None:
        """At stop: the pass under way, then one more for what was sealed since."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.upload_pass(index, set())

    async def upload_pass(self, index: IndexCalls, live: set[Path]) -> None:
        for path in self._spooled():
            if path in live:
                continue
            session_id = await asyncio.to_thread(self._finished_session, path)
            if session_id is None:
                continue
            name = path.relative_to(self.spool).as_posix()
            try:
                url = await self.bucket.upload_async(path, name)
            except StorageError as exc:
                log.warning("%s; %s stays in the spool for a later try", exc, path.name)
                self._next_try = time.monotonic() + RETRY_INTERVAL
                return
            # The index names the object before the file goes: a reader always finds one.
            await asyncio.wrap_future(index.update_session(session_id, recording_path=url))
            for p in (path, *(path.with_name(path.name + s) for s in SIDECARS)):
                p.unlink(missing_ok=True)
            if self._leftovers is not None:
                self._leftovers.discard(path)
            log.info("session %s: recording uploaded to %s", session_id[:8], name)

    def _finished_session(self, path: Path) -> str | None:
        """The session id of a recording no writer will touch again, else None."""
        try:
            reader = RecordingReader(path)
            done = reader.summary().sealed or path in (self._leftovers or ())
            keyframes = path.with_name(path.name + KEYFRAMES_SUFFIX)
            if done and not keyframes.exists():
                done = time.time() - path.stat().st_mtime > KEYFRAMES_WAIT
        except (RecordingError, OSError) as exc:
            log.warning("spool: %s", exc)
            return None
        session_id = reader.meta.get("session_id")
        return str(session_id) if done and session_id else None


def open_uploads(config: Config, data_dir: Path) -> Uploads | None:
    """The uploads ``storage.audit_sessions_uri`` asks for, checked; None for files."""
    if sessions_bucket(config.storage.audit_sessions_uri) is None:
        return None
    uploads = Uploads(config, data_dir)
    uploads.check()
    return uploads
