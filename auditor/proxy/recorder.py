"""Where the proxy's bytes go: the recording file (hot path) and the index (off it).

``ChannelRecording`` methods are called per chunk of traffic: they stamp
and queue the chunk and bump counters, nothing else. The recording thread
(``record_thread``) hashes and writes the files, index updates run on the
index's worker thread (``index_writer``) so SQLite never stalls the event loop, and
a single timer hands over what is queued and gets every open recording
flushed at least once a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import asyncssh

from auditor.audit_log import AuditLog
from auditor.proxy.index_writer import IndexWriter
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.redact import InputRedactor
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize
from auditor.recording.anchor import SignedAnchor, seal_anchor
from auditor.recording.sync import RecordingSyncer

log = logging.getLogger("auditor.proxy")
FLUSH_INTERVAL = 0.5
BATCH_BYTES = 1 << 20  # queued to the recording thread at this size or on the timer


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
        self.index.update_session(self.session_id, command=command)
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
            self.index.update_session(
                self.session_id, bytes_in=self.bytes_in, bytes_out=self.bytes_out
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
        ended = self.index.end_session(self.session_id, **end)
        # Searchable as soon as the row says ended.
        ended.add_done_callback(lambda _: self.on_end())


def _write_batch(writer: RecordingWriter, batch: list[tuple[Stream, bytes, float]]) -> None:
    """On the recording thread: append a batch, write it out when a flush is due."""
    for stream, data, t in batch:
        writer.append(stream, data, t)
    writer.flush_if_due()
