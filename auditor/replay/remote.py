"""Following a session that another machine's proxy records, through the shared index.

That proxy publishes each flush of the live recording with its ``.idx``
entry (``proxy.live``). Here the chunks are written, in order, to a private
temporary file with the same entries beside it, so every reader (``tail
--live``, ``replay``, the TUI) follows it exactly as it follows a spool file
on its own machine. A PostgreSQL NOTIFY says when there is more; without
one for a while, a look anyway (a wake-up lost with a connection). Its
proxy publishes only what someone follows: the mirror says it does, and
keeps saying so while it lasts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from auditor.errors import AuditorError
from auditor.index import Session, SessionIndex
from auditor.index.api import LiveWakeups
from auditor.index.owner import current_owner
from auditor.recording import RecordingError, RecordingReader
from auditor.recording.format import INDEX_ENTRY, index_path
from auditor.recording.source import FileSource

UNWOKEN_LOOK = 1.0  # seconds between looks without a wake-up
WATCH_RENEW = 5.0  # interest renewed this often (it lasts WATCH_TERM)
FIRST_WAIT = 5.0  # for the proxy to notice a new follower and publish the start
LISTEN_AGAIN = 5.0  # after the wake-ups' connection failed


class Mirrors:
    """The mirrored sessions of one process: a private directory, one LISTEN."""

    def __init__(self, index: SessionIndex, *, owns_index: bool = False) -> None:
        self.index = index
        self._owns_index = owns_index  # closed with the mirrors
        self._dir: Path | None = None
        self._listener: LiveWakeups | None = None
        self._listen_again = 0.0
        self._woken: set[str] = set()
        self._sources: dict[str, MirrorSource] = {}
        self.viewer = f"{current_owner()}:{uuid.uuid4().hex[:8]}"  # in live_watch

    def __enter__(self) -> Mirrors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reader(self, session: Session, wait: float = FIRST_WAIT) -> RecordingReader:
        """The session's recording: where its row says, or, for a live session of
        another machine (a shared index), mirrored from the published flushes,
        waiting up to ``wait`` seconds for its proxy to start publishing."""
        location = session.recording
        if location is None:
            raise AuditorError(session.no_recording())
        if not self.index.shares_live or location.is_object or self._local(str(location)):
            return RecordingReader(location)
        source = self.source(session.id)
        source.refresh(force=True)
        deadline = time.monotonic() + (wait if session.live else 0.0)
        while source.size() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # its proxy publishes once it sees the interest
            source.refresh()
        if source.size() == 0:
            if session.live:
                raise RecordingError(
                    f"session {session.id[:8]}: its proxy has published nothing of it "
                    f"within {wait:g}s (is it running, and on this database?)"
                )
            return RecordingReader(location)  # published output is kept a while only
        return RecordingReader(source)

    def _local(self, location: str) -> bool:
        """In this data directory's spool: a file this machine's proxy writes."""
        try:
            Path(location).resolve().relative_to(self.index.recordings_dir.resolve())
        except ValueError:
            return False
        return True

    def source(self, session_id: str) -> MirrorSource:
        source = self._sources.get(session_id)
        if source is None:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="auditor-live-"))
            source = MirrorSource(self, session_id, self._dir / f"{session_id}.rec")
            self._sources[session_id] = source
        return source

    def woken(self, session_id: str) -> bool:
        """Whether the session published since it last looked (and forget it)."""
        if self._listener is None and time.monotonic() >= self._listen_again:
            try:
                self._listener = self.index.live_listener()
            except AuditorError:  # no wake-ups for now: the unwoken looks still come
                self._listen_again = time.monotonic() + LISTEN_AGAIN
        if self._listener is not None:
            try:
                # Every session of the fleet that publishes says so: keep ours only.
                self._woken |= self._listener.poll() & self._sources.keys()
            except AuditorError:
                self._listener.close()
                self._listener = None
                self._listen_again = time.monotonic() + LISTEN_AGAIN
        if session_id in self._woken:
            self._woken.discard(session_id)
            return True
        return False

    def close(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):  # closing what may already be lost
                self._listener.close()
            self._listener = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._sources.clear()
        if self._owns_index:
            self._owns_index = False
            self.index.close()


class MirrorSource(FileSource):
    """A file that grows by the chunks another machine's proxy publishes."""

    def __init__(self, mirrors: Mirrors, session_id: str, path: Path) -> None:
        super().__init__(path)
        self.mirrors = mirrors
        self.session_id = session_id
        self.end = 0
        self._looked = 0.0
        self._watch_renewed = 0.0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.close(os.open(index_path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))

    @property
    def name(self) -> str:
        return f"session {self.session_id[:8]} (live, published by its proxy)"

    def refresh(self, force: bool = False) -> None:
        """Add what was published since; a query only when woken, forced, or
        after a while without a wake-up. With the database away the mirror
        just does not grow: a later refresh catches up."""
        now = time.monotonic()
        woken = self.mirrors.woken(self.session_id)
        if not (force or woken or now - self._looked >= UNWOKEN_LOOK):
            return
        self._looked = now
        try:
            if now - self._watch_renewed >= WATCH_RENEW:
                self.mirrors.index.watch_live(self.session_id, self.mirrors.viewer)
                self._watch_renewed = now
            self._fetch()
        except AuditorError:
            return

    def _fetch(self) -> None:
        while True:
            chunks = self.mirrors.index.live_chunks(self.session_id, self.end)
            if not chunks:
                return
            with open(self.path, "r+b") as data, open(index_path(self.path), "ab") as entries:
                for chunk in chunks:
                    if chunk.offset != self.end:
                        return  # not contiguous (dropped meanwhile): nothing more to add
                    data.seek(chunk.offset)
                    data.write(chunk.data)
                    data.flush()  # the bytes before the entry that vouches for them
                    entries.write(INDEX_ENTRY.pack(chunk.end, chunk.end_t, chunk.end_seq))
                    self.end = chunk.end
