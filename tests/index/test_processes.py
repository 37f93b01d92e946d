"""Several processes on one data directory: a crashed writer, a reader beside a writer."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from auditor.index import SessionIndex
from auditor.recording import RecordingReader
from auditor.upkeep.recovery import recover_interrupted
from auditor.upkeep.text_extraction import extract_pending

CRASHING_PROXY = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from auditor.index import SessionIndex
    from auditor.recording import RecordingWriter, Stream
    index = SessionIndex.open(Path(sys.argv[1]), uri=sys.argv[2] or None)
    sid = index.new_session_id()
    path = index.recording_path(sid)
    w = RecordingWriter.create(path, {"session_id": sid})
    index.start_session(session_id=sid, user="joe", node="db1", recording_path=str(path))
    w.append(Stream.OUTPUT, b"before the crash\\r\\n", 1.0)
    w.append(Stream.OUTPUT, b"last flushed words\\r\\n", 4.5)
    w.flush()
    w.append(Stream.OUTPUT, b"never flushed\\r\\n", 6.0)
    print(sid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def test_sessions_of_a_killed_process_become_interrupted(
    tmp_path: Path, index_uri: str | None
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CRASHING_PROXY, str(tmp_path), index_uri or ""],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    sid = proc.stdout.strip()
    with SessionIndex.open(tmp_path, uri=index_uri) as index:
        # A session of a process that is alive (this one) is left alone.
        mine = index.start_session(user="ann")
        assert index.get_session(sid).status == "live"
        assert recover_interrupted(index) == 1
        s = index.get_session(sid)
        assert s.status == "interrupted"
        assert s.end == pytest.approx(s.start + 4.5)  # the last record on disk
        assert index.get_session(mine).status == "live"
        assert recover_interrupted(index) == 0
        # Its text up to the crash is searchable; verify anchors on what was on disk.
        extract_pending(index)
        assert [h.session.id for h in index.search("flushed words")] == [sid]
        assert index.search("never") == []
        assert (
            s.recording_hash == RecordingReader(Path(s.recording_path or "")).summary().final_hash
        )


def test_pid_reuse_does_not_keep_a_dead_session_live(tmp_path: Path, index_uri: str | None) -> None:
    with SessionIndex.open(tmp_path, uri=index_uri) as index:
        sid = index.start_session(user="joe")
        # Same host and PID as this process, but another process start time.
        host, pid, _ = index._owner.split(":")
        mark = "?" if index_uri is None else "%s"
        index.conn.execute(  # type: ignore[attr-defined]
            f"UPDATE sessions SET owner = {mark} WHERE id = {mark}", [f"{host}:{pid}:1", sid]
        )
        index._owner = "elsewhere:1:1"
        assert recover_interrupted(index) == 1


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from auditor.index import SessionIndex
    index = SessionIndex.open(Path(sys.argv[1]))
    print("ready", flush=True)
    worst = 0.0
    for i in range(int(sys.argv[2])):
        t0 = time.monotonic()
        sid = index.start_session(user="joe", node="n%d" % (i % 5))
        index.update_session(sid, bytes_out=i)
        index.end_session(sid, exit_status=0)
        worst = max(worst, time.monotonic() - t0)
    print(worst, flush=True)
    """
)


def test_a_reader_in_another_process_never_blocks_the_writer(tmp_path: Path) -> None:
    SessionIndex.open(tmp_path).close()
    n = 300
    # A reader holding a read transaction open the whole time, as a slow TUI query would.
    reader = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(n)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        # Meanwhile the CLI lists sessions over and over from this process.
        with SessionIndex.open(tmp_path) as index:
            deadline = time.monotonic() + 60
            while writer.poll() is None:
                index.sessions(limit=50)
                assert time.monotonic() < deadline
        worst = float(writer.stdout.readline())
        assert writer.wait() == 0
    finally:
        if writer.poll() is None:
            os.kill(writer.pid, signal.SIGKILL)
            writer.wait()
    # The reader's snapshot did not move; the writer never waited on it.
    assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0
    reader.execute("COMMIT")
    assert reader.execute("SELECT count(*) FROM sessions").fetchone()[0] == n
    assert worst < 1.0, f"a write waited {worst:.2f}s"
