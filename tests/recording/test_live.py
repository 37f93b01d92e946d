"""A reader in one process follows a recording another process is writing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from auditor.recording import RecordingError, RecordingReader, Stream

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from auditor.recording import RecordingWriter, Stream
    w = RecordingWriter.create(Path(sys.argv[1]), {"session_id": "live"})
    for i in range(int(sys.argv[2])):
        w.append(Stream.OUTPUT, b"chunk %05d " % i + bytes(range(256)) * 3)
        if i % 7 == 0:
            w.flush()
        time.sleep(0.002)
    w.close()
    """
)


def test_reader_follows_a_writer_in_another_process(tmp_path: Path) -> None:
    path = tmp_path / "live.rec"
    n = 600
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n)])
    try:
        deadline = time.monotonic() + 30
        while not path.exists() or path.stat().st_size == 0:
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.01)
        while True:
            try:
                cursor = RecordingReader(path).cursor()
                break
            except RecordingError:  # the header is not complete yet
                assert time.monotonic() < deadline
                time.sleep(0.01)
        seen: list[bytes] = []
        polls = 0
        while not cursor.sealed:
            assert time.monotonic() < deadline, f"only {len(seen)} records seen"
            for rec in cursor.poll():
                assert rec.stream is Stream.OUTPUT
                seen.append(rec.data)
            polls += 1
            time.sleep(0.01)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()
    assert polls > 5  # it really read while the writer was writing
    assert [d[:12] for d in seen] == [b"chunk %05d " % i for i in range(n)]
    assert all(d[12:] == bytes(range(256)) * 3 for d in seen)
