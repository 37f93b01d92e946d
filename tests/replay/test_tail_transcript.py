"""``auditor tail --live`` into a pipe prints the transcript ``auditor replay
--format text`` prints, built as the recording grows."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from auditor.index import SessionIndex
from auditor.recording import Record, RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.replay.tail import LiveTail
from auditor.replay.transcript import recording_transcript

SAMPLES = Path(__file__).resolve().parents[2] / "sample_sessions" / "recordings"
FULL_SCREEN = "e2458f9d9f1f494cb14c1304bcc6621d.rec"  # a shell with a full-screen program in it
NO_PTY = "e095301125034aa1b39e5404131cac20.rec"  # ssh node 'awk ...': 8,000 bare line feeds
NO_PTY_STDERR = "40e632d04eff4ddfaf8a0b746bfc3c10.rec"  # exec, stdout and stderr


def tail_of(tmp_path: Path, records: list[Record], polls: int) -> tuple[list[str], list[str]]:
    """What tail printed for a session recorded from ``records`` while it
    followed it (``polls`` reads as it grew), and the replay transcript of it."""
    index = SessionIndex.open(tmp_path)
    out = io.BytesIO()
    try:
        tail = LiveTail(index, out, raw=False)  # started before the session: from its start
        session_id = index.new_session_id()
        path = index.recording_path(session_id)
        writer = RecordingWriter.create(path, {"session_id": session_id})
        index.start_session(
            session_id, user="alice", login="root", node="web1", recording_path=str(path)
        )
        tail._scan()
        step = max(1, len(records) // polls)
        for at in range(0, len(records), step):
            for record in records[at : at + step]:
                writer.append(record.stream, record.data, record.t)
            writer.flush()
            tail.step()
        writer.close()
        index.end_session(session_id)
        tail.step()
        assert session_id not in tail.followed
    finally:
        index.close()
    printed = out.getvalue().decode().splitlines()
    assert printed[0] == f"==> {session_id[:8]} alice root@web1 <=="
    return printed[1:], list(recording_transcript(RecordingReader(path).records()))


# A live tail gives a shell's rows out once the cursor has left them; the
# full-screen sample also runs top on the main screen, which redraws rows
# already given out, so it is read in few polls (see Transcript.settle).
@pytest.mark.parametrize(
    ("sample", "polls"),
    [(FULL_SCREEN, 1), (FULL_SCREEN, 7), (NO_PTY, 1), (NO_PTY, 40), (NO_PTY_STDERR, 3)],
)
def test_tail_into_a_pipe_prints_the_replay_transcript(
    tmp_path: Path, sample: str, polls: int
) -> None:
    records = list(RecordingReader(SAMPLES / sample).records())
    printed, transcript = tail_of(tmp_path, records, polls)
    assert printed == transcript
    assert len(transcript) > 1


def test_a_full_screen_program_withheld_input_and_a_shell_come_out_as_in_replay(
    tmp_path: Path,
) -> None:
    def at(t: float, stream: Stream, data: bytes) -> Record:
        return Record(0, t, stream, data, 0)

    records = [
        at(0.0, Stream.RESIZE, encode_resize(60, 6)),
        at(0.0, Stream.MARKER, b"shell"),
        at(0.1, Stream.OUTPUT, b"$ sudo -v\r\n[sudo] password for alice: "),
        at(0.2, Stream.WITHHELD, b""),
        at(0.3, Stream.OUTPUT, b"\r\n$ vi notes\r\n\x1b[?1049h\x1b[H\x1b[2J"),
        at(0.4, Stream.OUTPUT, b'\x1b[1;1HHello from vim\x1b[6;1H"notes" 1L'),
        at(0.5, Stream.OUTPUT, b"\x1b[?1049l\r\n$ " + b"".join(b"n%d\r\n" % i for i in range(9))),
        at(0.6, Stream.OUTPUT, b"\x1b[1;31mred\x1b[0m\r\n$ exit\r\n"),
    ]
    printed, transcript = tail_of(tmp_path, records, len(records))
    assert printed == transcript
    assert "[sudo] password for alice: [input withheld]" in printed
    assert printed.index("Hello from vim") < printed.index("n1") < printed.index("red")
