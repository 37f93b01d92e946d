"""The search syntax means the same on both engines: the same sessions, in the same
order, with the same matching lines, for every kind of query a user types."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.upkeep.text_extraction import extract_text

OUTPUTS = [
    b"$ cat /etc/motd\r\n\x1b[1mWelcome\x1b[0m to prod-db\r\n",
    b"$ uptime\r\n 10:00 up 3 days, load 0.15\r\n",
    "caf\u00e9 au lait, na\u00efve CAF\u00c9\r\n".encode(),
    b"journalctl -u nginx --since today\r\nsnake_case_name and x_y\r\n",
    b"rm -rf /tmp/build && make all\r\nmake: Nothing to be done for 'all'.\r\n",
    b"the quick brown fox\r\njumps over the lazy dog\r\n",
]
QUERIES = [
    "welcome",
    "WELCOME",
    "prod-db",
    "etc/motd",
    "/etc/motd",
    "upt*",
    "up*",
    "u*",
    "cafe",
    "café",
    "naive",
    "journal*",
    "snake_case_name",
    "case",
    "x_y",
    "rm -rf /tmp",
    "make all",
    "'all'.",
    "$",
    "$ uptime",
    "quick fox",
    "quick-brown",
    "brown-quick",
    '"quick brown"',
    "lazy dog*",
    "fox dog",  # words on two lines of one stretch of output
    "nothing-matches-this",
    "0.15",
    "3",
    "10:00",
]


def fill(index: SessionIndex) -> None:
    for n, output in enumerate(OUTPUTS):
        sid = f"{n:02d}" + "0" * 30
        path = index.recording_path(sid)
        w = RecordingWriter.create(path, {"session_id": sid})
        index.start_session(session_id=sid, user="joe", start=1000.0 + n, recording_path=str(path))
        w.append(Stream.OUTPUT, output, 0.5)
        w.append(Stream.EXIT, b"0", 1.0)
        w.close()
        index.end_session(sid, exit_status=0)
        extract_text(index, sid)


@pytest.fixture
def both(tmp_path: Path, postgres_uri: str) -> dict[str, SessionIndex]:
    for name in ("sqlite", "postgresql"):
        (tmp_path / name).mkdir()
    engines = {
        "sqlite": SessionIndex.open(tmp_path / "sqlite"),
        "postgresql": SessionIndex.open(tmp_path / "postgresql", uri=postgres_uri),
    }
    for index in engines.values():
        fill(index)
    return engines


def test_every_query_finds_the_same_sessions_and_lines_on_both_engines(
    both: dict[str, SessionIndex],
) -> None:
    try:
        for q in QUERIES:
            got = {
                name: [(h.session.id, h.t, h.line) for h in index.search(q)]
                for name, index in both.items()
            }
            assert got["postgresql"] == got["sqlite"], q
            hits = {
                name: [index.search_hits(sid, q) for sid, _, _ in got["sqlite"]]
                for name, index in both.items()
            }
            assert hits["postgresql"] == hits["sqlite"], q
        # Something is found at all, and the marks are where a user expects them.
        [hit] = both["postgresql"].search("café")
        assert hit.line == "«café» au lait, naïve «CAFÉ»"
    finally:
        for index in both.values():
            index.close()
