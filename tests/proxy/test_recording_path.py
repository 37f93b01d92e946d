"""The proxy's recording path off the event loop: ordering, sealing and backlog.

End-to-end sessions through the proxy are in the other proxy tests; these
pin what the recording thread must keep that a session alone would show
only by luck of timing.
"""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any

from auditor.audit_log import AuditLog
from auditor.proxy.index_writer import IndexWriter
from auditor.proxy.record_thread import RecordingThread
from auditor.proxy.recorder import BATCH_BYTES, ChannelRecording
from auditor.recording import RecordingReader, RecordingWriter, Stream, decode_exit
from auditor.recording.verification import verify_recording


def test_backlog_is_bounded_and_queueing_waits_for_room() -> None:
    thread = RecordingThread(max_backlog=10)
    release = threading.Event()
    order: list[str] = []

    def first() -> None:
        release.wait(5)
        order.append("first")

    thread.submit(first, nbytes=10)
    queued = threading.Event()

    def second() -> None:
        thread.submit(lambda: order.append("second"), nbytes=5)
        queued.set()

    threading.Thread(target=second).start()
    # The first job holds the whole backlog: the second can't even be queued.
    assert not queued.wait(0.3)
    assert thread.backlog == 10
    release.set()
    assert queued.wait(5)
    thread.close()
    assert order == ["first", "second"]
    assert thread.backlog == 0


def test_row_ends_only_once_the_recording_is_sealed(tmp_path: Path) -> None:
    index = IndexWriter(tmp_path)
    audit = AuditLog(tmp_path / "audit.log")
    thread = RecordingThread()
    try:
        session_id = index.index.new_session_id()
        path = index.index.recording_path(session_id)
        writer = RecordingWriter.create(path, {"session_id": session_id})
        index.start_session(session_id, recording_path=str(path)).result()
        seen: list[Any] = []
        ended = threading.Event()

        def on_end() -> None:
            # What a reader finds the moment the row says ended.
            row = index.index.get_session(session_id)
            seen.append((row.status, row.recording_hash, RecordingReader(path).summary()))
            ended.set()

        rec = ChannelRecording(index, session_id, writer, set(), audit, thread, on_end)
        chunk = b"x" * 40_000
        count = 3 * BATCH_BYTES // len(chunk)  # several hand-offs before the end
        for _ in range(count):
            rec.output(chunk)
        rec.stderr(b"warning\n")
        rec.finish(3)
        assert ended.wait(10)
        status, anchor, summary = seen[0]
        assert status == "ended"
        assert summary.sealed
        assert anchor == summary.final_hash
        assert verify_recording(path, anchor).ok
        records = list(RecordingReader(path).records())
        assert [r.stream for r in records] == [Stream.OUTPUT] * count + [
            Stream.STDERR,
            Stream.EXIT,
        ]
        assert decode_exit(records[-1].data)[0] == 3
        assert all(a.t <= b.t for a, b in itertools.pairwise(records))
    finally:
        thread.close()
        audit.close()
        index.close()
