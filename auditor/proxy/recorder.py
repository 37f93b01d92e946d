"""Where the proxy's bytes go: the recording file (hot path) and the index (off it).

``ChannelRecording`` methods are called per chunk of traffic: they stamp
and queue the chunk and bump counters, nothing else. The recording thread
(``record_thread``) hashes and writes the files, index updates run on one
worker thread (``IndexWriter``) so SQLite never stalls the event loop, and
a single timer hands over what is queued and gets every open recording
flushed at least once a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncssh

from auditor.index import SessionIndex
from auditor.proxy.audit_log import AuditLog
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.redact import InputRedactor
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize
from auditor.recording.anchor import SignedAnchor, seal_anchor
from auditor.recording.sync import RecordingSyncer
from auditor.storage import StorageError

log = logging.getLogger("auditor.proxy")
FLUSH_INTERVAL = 0.5
BATCH_BYTES = 1 << 20  # queued to the recording thread at this size or on the timer


# Writes that must not be lost while the database is away: kept in order and
# written when it is back (a session that ends during an outage ends in the index).
KEPT_FOR_LATER = frozenset({"update_session", "end_session", "record_failure"})
BACKLOG_LIMIT = 100_000
RETRY_EVERY = 2.0


class IndexWriter:
    """Serialises index writes on a worker thread that owns the index's connection.

    A shared index can go away (a database restart, a network cut): writes
    that record what happened to sessions already under way wait in a
    backlog and go in order once it is back; ``available`` says whether the
    last write got through, so the proxy refuses new sessions meanwhile.
    """

    def __init__(self, data_dir: Path, uri: str | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="auditor-index")
        self._index: SessionIndex | None = None
        self.data_dir = data_dir
        self.uri = uri  # storage.audit_events_uri: None is SQLite in the data dir
        self.available = True
        self.trouble: str | None = None  # why not, as one line
        self._backlog: deque[tuple[str, tuple[Any, ...], dict[str, Any]]] = deque()
        self._next_try = 0.0
        self.submit(self._open).result()

    def _open(self) -> None:
        # Text extraction runs in its own process (text_process), not a thread here.
        self._index = SessionIndex.open(self.data_dir, uri=self.uri, background_text=False)

    @property
    def index(self) -> SessionIndex:
        assert self._index is not None
        return self._index

    def submit(self, fn: Any, *args: Any, **kwargs: Any) -> Future[Any]:
        fut = self._pool.submit(fn, *args, **kwargs)
        fut.add_done_callback(_log_error)
        return fut

    def call(self, method: str, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.submit(self._call, method, args, kwargs)

    def _call(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if self._backlog and not self._write_backlog():
            if method in KEPT_FOR_LATER:
                self._keep(method, args, kwargs)
                return None
            raise StorageError(self.trouble or "the index is away")
        try:
            result = getattr(self.index, method)(*args, **kwargs)
        except StorageError as exc:
            self._away(exc)
            if method in KEPT_FOR_LATER:
                self._keep(method, args, kwargs)
                return None
            raise
        self._back()
        return result

    def _keep(self, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if len(self._backlog) >= BACKLOG_LIMIT:
            log.error("index backlog full: %s of a session dropped", method)
            return
        self._backlog.append((method, args, kwargs))

    def _write_backlog(self) -> bool:
        """Write what waited, in order; False if the index is still away."""
        if time.monotonic() < self._next_try:
            return False
        while self._backlog:
            method, args, kwargs = self._backlog[0]
            try:
                getattr(self.index, method)(*args, **kwargs)
            except StorageError as exc:
                self._away(exc)
                return False
            self._backlog.popleft()
        self._back()
        return True

    def _away(self, exc: StorageError) -> None:
        self._next_try = time.monotonic() + RETRY_EVERY
        if self.available:
            log.error("%s: new sessions are refused until it is back", exc)
        self.available, self.trouble = False, str(exc)

    def _back(self) -> None:
        if not self.available:
            log.warning("the index is back: new sessions are accepted again")
        self.available, self.trouble = True, None

    async def probe(self) -> bool:
        """Whether the index takes writes now (a new session is about to need it)."""
        if self.available:
            return True
        try:
            await self.acall("renew_lease")
        except StorageError:
            return False
        return self.available

    async def acall(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.wrap_future(self.call(method, *args, **kwargs))

    def close(self) -> None:
        def shut() -> None:
            if self._index is not None:
                self._index.close()

        self._pool.submit(shut).result()
        self._pool.shutdown(wait=True)


def _log_error(fut: Future[Any]) -> None:
    exc = fut.exception()
    if isinstance(exc, StorageError):
        log.debug("index write failed: %s", exc)  # said once, when it went away
    elif exc is not None:
        log.error("index write failed: %r", exc)


class ChannelRecording:
    """One recorded channel: its recording file and its session row.

    The writer belongs to the recording thread once created: this side only
    stamps and queues chunks, and the thread appends, flushes and closes.
    """

    def __init__(
        self,
        index: IndexWriter,
        session_id: str,
        writer: RecordingWriter | None,
        registry: set[ChannelRecording],
        audit: AuditLog,
        thread: RecordingThread,
        on_end: Callable[[], None] = lambda: None,
        on_sealed: Callable[[str], Future[None]] | None = None,
        syncer: RecordingSyncer | None = None,
        audit_key: asyncssh.SSHKey | None = None,
    ) -> None:
        self.audit = audit
        self.audit_key = audit_key  # signs the anchor at seal time (recording.anchor)
        self.on_end = on_end
        # With followers elsewhere: the sealed end is published before the row ends.
        self.on_sealed = on_sealed
        self.syncer = syncer  # the sealed file on the disk before the row ends
        self.index = index
        self.session_id = session_id
        self.writer = writer
        self.thread = thread
        self.bytes_in = 0
        self.bytes_out = 0
        self.registry = registry
        self.finished = False
        # Set by the bridge that carries the session: tell the user, close both sides.
        self.on_terminate: Callable[[str], None] | None = None
        self._last_update = time.monotonic()
        self._batch: list[tuple[Stream, bytes, float]] = []
        self._batch_bytes = 0
        # auth_service.session_recording_input, set by the bridge: "all" keeps every
        # key, "none" none; "redacted" keeps exec stdin and, on a pty, what echoed.
        self.input_mode = "all"
        self.redactor: InputRedactor | None = None
        registry.add(self)

    # Hot path: stamp, queue and count.
    def _add(self, stream: Stream, data: bytes) -> None:
        assert self.writer is not None
        if self.redactor is not None:
            self._queue(self.redactor.add(stream, data, self.writer.clock()))
            return
        self._batch.append((stream, data, self.writer.clock()))
        self._batch_bytes += len(data)
        if self._batch_bytes >= BATCH_BYTES:
            self._hand_off()

    def _queue(self, records: list[tuple[Stream, bytes, float]]) -> None:
        for record in records:
            self._batch.append(record)
            self._batch_bytes += len(record[1])
            if record[0] is Stream.INPUT:
                self.bytes_in += len(record[1])  # what is kept: a password's length is not
        if self._batch_bytes >= BATCH_BYTES:
            self._hand_off()

    def pty_started(self) -> None:
        """The channel has a pty: under ``redacted``, keys wait for their echo."""
        if self.writer is not None and self.input_mode == "redacted" and self.redactor is None:
            self.redactor = InputRedactor(self.writer.clock)

    def _hand_off(self) -> None:
        """Queue the batch for the recording thread; it flushes when due."""
        if self.writer is None or not self._batch:
            return
        batch, self._batch = self._batch, []
        nbytes, self._batch_bytes = self._batch_bytes, 0
        self.thread.submit(_write_batch, self.writer, batch, nbytes=nbytes)

    def output(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self.writer is not None:
            self._add(Stream.OUTPUT, data)

    def stderr(self, data: bytes) -> None:
        self.bytes_out += len(data)
        if self.writer is not None:
            self._add(Stream.STDERR, data)

    def input(self, data: bytes) -> None:
        if self.redactor is None:  # with one, counted as kept (_queue)
            self.bytes_in += len(data)
        if self.writer is not None and self.input_mode != "none":
            self._add(Stream.INPUT, data)

    def count(self, bytes_in: int = 0, bytes_out: int = 0) -> None:
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out

    def resize(self, cols: int, rows: int) -> None:
        if self.writer is not None:
            self._add(Stream.RESIZE, encode_resize(cols, rows))

    def marker(self, text: str) -> None:
        if self.writer is not None:
            self._add(Stream.MARKER, text.encode())

    def event(self, text: str) -> None:
        if self.writer is not None:
            self._add(Stream.EVENT, text.encode())

    def terminate(self, by: str, reason: str) -> None:
        """An auditor asked for this session to end: on the record, then ended."""
        if self.finished or self.on_terminate is None:
            return
        self.event(f"terminated by {by}: {reason}")
        self.audit.write("session_terminated", session_id=self.session_id, by=by, reason=reason)
        self.on_terminate(reason)

    def set_command(self, command: str) -> None:
        self.index.call("update_session", self.session_id, command=command)
        self.audit.write("exec", session_id=self.session_id, command=command)

    def tick(self) -> None:
        """From the flush timer: queue what is batched, refresh byte counts."""
        if self.writer is not None:
            if self.redactor is not None:
                self._queue(self.redactor.settle())
            if self._batch:
                self._hand_off()
            else:
                self.thread.submit(self.writer.flush_if_due)
        now = time.monotonic()
        if now - self._last_update >= 2.0:
            self._last_update = now
            self.index.call(
                "update_session", self.session_id, bytes_in=self.bytes_in, bytes_out=self.bytes_out
            )

    def finish(self, exit_status: int | None, exit_signal: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self.registry.discard(self)
        if self.redactor is not None and self.writer is not None:
            # Keys still waiting are decided now (unechoed ones withheld), and
            # counted in bytes_in if kept.
            self._queue(self.redactor.close())
        end = {
            "status": "ended",
            "exit_status": exit_status if exit_signal is None else None,
            "exit_signal": exit_signal,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
        }
        if self.writer is None:
            self._end_session(end)
            return
        if exit_signal is not None or exit_status is not None:
            self._add(Stream.EXIT, encode_exit(exit_status, exit_signal))
        self._hand_off()
        # The row says ended only once the file is sealed: readers of an
        # ended session (text extraction, verify) find it whole.
        self.thread.submit(self._close_and_end, self.writer, end)
        self.audit.write(
            "session_end",
            session_id=self.session_id,
            exit_status=exit_status,
            exit_signal=exit_signal,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
        )

    def _close_and_end(self, writer: RecordingWriter, end: dict[str, Any]) -> None:
        try:
            writer.close()
            # The anchor as the writer knows it: by the time the row is written (the
            # index away a while), the file may be in the bucket and gone from here.
            end["anchor"] = writer.final_hash
            if self.audit_key is not None:
                end["signed"] = self._sign(writer)
        finally:
            if self.syncer is None:
                self._sealed(end)
            else:  # the syncer's thread goes on when the seal is on the disk
                self.syncer.seal(writer).add_done_callback(lambda _: self._sealed(end))

    def _sealed(self, end: dict[str, Any]) -> None:
        if self.on_sealed is None:
            self._end_session(end)
        else:
            self.on_sealed(self.session_id).add_done_callback(lambda _: self._end_session(end))

    def _sign(self, writer: RecordingWriter) -> SignedAnchor | None:
        """The sealed anchor signed, its sidecar beside the file; a failure to sign
        leaves the session unsigned (verify names it) but never unended."""
        assert self.audit_key is not None
        try:
            durable = self.syncer is not None and self.syncer.enabled
            return seal_anchor(self.audit_key, self.session_id, writer, durable)
        except (OSError, ValueError) as exc:
            log.error("session %s: anchor not signed: %s", self.session_id[:8], exc)
            return None

    def _end_session(self, end: dict[str, Any]) -> None:
        ended = self.index.call("end_session", self.session_id, **end)
        # Searchable as soon as the row says ended.
        ended.add_done_callback(lambda _: self.on_end())


def _write_batch(writer: RecordingWriter, batch: list[tuple[Stream, bytes, float]]) -> None:
    """On the recording thread: append a batch, write it out when a flush is due."""
    for stream, data, t in batch:
        writer.append(stream, data, t)
    writer.flush_if_due()
