"""The session index as the proxy, the CLI and the TUI use it, on both engines."""

from __future__ import annotations

import sqlite3
import stat
import time
from pathlib import Path

import pytest

from auditor.errors import AuditorError, UsageError
from auditor.index import HINTS, FailureKind, SessionIndex
from auditor.index.schema import MIGRATIONS
from auditor.recording import RecordingWriter, Stream
from auditor.upkeep.text_extraction import extract_text
from tests.index.conftest import text_rows

FIELDS = {
    "connection_id": "c1",
    "user": "joe",
    "login": "root",
    "node": "db.example.com",
    "port": 22,
    "cluster": None,
    "client_addr": "127.0.0.1:50000",
}


def recorded_session(
    index: SessionIndex, *chunks: bytes, close: bool = True, **fields: object
) -> str:
    sid = index.new_session_id()
    path = index.recording_path(sid)
    w = RecordingWriter.create(path, {"session_id": sid})
    index.start_session(session_id=sid, **{**FIELDS, **fields}, recording_path=str(path))
    for i, chunk in enumerate(chunks):
        w.append(Stream.OUTPUT, chunk, 0.1 * (i + 1))
    if close:
        w.append(Stream.EXIT, b"0", 0.1 * (len(chunks) + 1))
        w.close()
        index.end_session(sid, exit_status=0, bytes_out=sum(map(len, chunks)))
    else:
        w.flush()
    extract_text(index, sid)
    return sid


def test_postgres_records_its_migrations_once(tmp_path: Path, postgres_uri: str) -> None:
    import psycopg

    from auditor.index.postgres_schema import MIGRATIONS as PG_MIGRATIONS

    SessionIndex.open(tmp_path, uri=postgres_uri).close()
    SessionIndex.open(tmp_path, uri=postgres_uri).close()
    with psycopg.connect(postgres_uri) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in PG_MIGRATIONS]
    assert not (tmp_path / "index.db").exists()  # nothing of the embedded engine


def test_open_creates_a_private_wal_database_and_migrates_once(tmp_path: Path) -> None:
    SessionIndex.open(tmp_path).close()
    SessionIndex.open(tmp_path).close()
    db = tmp_path / "index.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    names = [r[0] for r in conn.execute("SELECT name FROM _migrations")]
    assert names == [name for name, _ in MIGRATIONS]


def test_session_lifecycle(index: SessionIndex) -> None:
    sid = index.start_session(**FIELDS, command="tcp")
    assert index.get_session(sid).status == "live"
    assert [s.id for s in index.live_sessions()] == [sid]
    index.update_session(sid, bytes_in=10, bytes_out=20)
    index.end_session(sid, exit_status=3, bytes_in=11, bytes_out=22)
    s = index.get_session(sid)
    assert (s.status, s.exit_status, s.bytes_in, s.bytes_out) == ("ended", 3, 11, 22)
    assert s.end is not None and s.end >= s.start
    assert index.live_sessions() == []
    with pytest.raises(TypeError, match="unknown session fields: colour"):
        index.update_session(sid, colour="red")


def test_ids_by_unique_prefix(index: SessionIndex) -> None:
    a = index.start_session(session_id="abc123" + "0" * 26)
    index.start_session(session_id="abd456" + "0" * 26)
    assert index.resolve_id("ABC") == a
    assert index.get_session("abc1").id == a
    with pytest.raises(AuditorError, match="ambiguous session ID 'ab'"):
        index.resolve_id("ab")
    with pytest.raises(AuditorError, match="unknown session ID 'abe'"):
        index.resolve_id("abe")
    with pytest.raises(AuditorError, match="unknown session ID 'xyz'"):
        index.resolve_id("xyz")


def test_filters_and_order(index: SessionIndex) -> None:
    now = time.time()
    old = index.start_session(**FIELDS, start=now - 86400 * 3)
    new = index.start_session(**{**FIELDS, "user": "ann", "node": "web1"}, start=now - 60)
    assert [s.id for s in index.sessions()] == [new, old]
    assert [s.id for s in index.sessions(user="joe")] == [old]
    assert [s.id for s in index.sessions(node="web1")] == [new]
    assert [s.id for s in index.sessions(since=now - 3600)] == [new]
    index.end_session(old)
    assert [s.id for s in index.sessions(live=True)] == [new]


def test_failures_carry_their_kind_hint_and_detail(index: SessionIndex) -> None:
    fid = index.record_failure(
        FailureKind.MAXSTARTUPS,
        "ssh: connection dropped by the node (MaxStartups)",
        retries=3,
        detail="Exceeded MaxStartups\r\n",
        user="joe",
        node="db1",
        port=22,
        surprise="kept",
    )
    index.record_failure("host_cert_missing", "plain key", node="db2")
    f = index.failures(kind="maxstartups")[0]
    assert (f.id, f.kind, f.retries, f.detail) == (
        fid,
        "maxstartups",
        3,
        "Exceeded MaxStartups\r\n",
    )
    assert "MaxStartups 50:30:100" in (f.hint or "")
    assert f.extra == '{"surprise": "kept"}'
    assert [x.kind for x in index.failures()] == ["host_cert_missing", "maxstartups"]
    assert index.failures(since=time.time() + 10) == []
    with pytest.raises(ValueError):
        index.record_failure("not_a_kind", "x")


def test_every_failure_kind_of_the_design_has_a_hint() -> None:
    kinds = [
        "maxstartups",
        "host_cert_missing",
        "host_cert_untrusted",
        "host_principal_mismatch",
        "host_cert_expired",
        "agent_not_forwarded",
        "agent_no_certificate",
        "user_auth_failed",
        "login_denied",
        "node_auth_failed",
        "node_unreachable",
        "bad_request",
        "unknown_cluster",
        "protocol_error",
        "subsystem_refused",
        "request_refused",
        "access_denied",
        "dial_queued",
    ]
    assert sorted(k.value for k in FailureKind) == sorted(kinds)
    assert all(len(HINTS[k]) > 20 for k in FailureKind)
    assert "HostCertificate" in FailureKind.HOST_CERT_MISSING.hint


def test_search_finds_text_without_escapes_and_gives_the_line(index: SessionIndex) -> None:
    a = recorded_session(
        index, b"$ cat /etc/motd\r\n\x1b[1mWelcome\x1b[0m to \x1b[32mprod\x1b[0m-db\r\n"
    )
    b = recorded_session(index, b"$ uptime\r\n 10:00 up 3 days\r\n", user="ann")
    [hit] = index.search("welcome")
    assert hit.session.id == a
    assert hit.line == "«Welcome» to prod-db"
    assert hit.t == pytest.approx(0.1)
    assert [h.session.id for h in index.search("prod-db")] == [a]  # punctuation is no syntax error
    assert [h.session.id for h in index.search("etc/motd")] == [a]
    assert [h.session.id for h in index.search("upt*")] == [b]
    assert {s.id for s in index.sessions(search="$")} == set()
    assert index.search("welcome uptime") == []  # every word must match
    assert index.search("welcome", user="ann") == []
    assert [s.id for s in index.sessions(search="days", user="ann")] == [b]
    assert index.search_hits(a[:6], "prod") == [(pytest.approx(0.1), "Welcome to «prod»-db")]
    with pytest.raises(UsageError):
        index.search("   ")


def test_search_lists_sessions_newest_first_and_once(index: SessionIndex) -> None:
    ids = [
        recorded_session(index, b"common " * 20000 + b"\r\n", b"common again\r\n") for _ in range(5)
    ]
    hits = index.search("common", limit=3)
    assert [h.session.id for h in hits] == ids[::-1][:3]


def test_search_gives_each_session_its_own_line(index: SessionIndex) -> None:
    # One statement finds the lines of all hits: each must get its own, filters included.
    a = recorded_session(index, b"journalctl -u nginx\r\n", user="ann")
    b = recorded_session(index, b"nothing here\r\n", user="ann")
    c = recorded_session(index, b"journald restarted\r\n", user="bob")
    d = recorded_session(index, b"see journal.log\r\n", user="ann")
    hits = index.search("journal*")
    assert [(h.session.id, h.line) for h in hits] == [
        (d, "see «journal».log"),
        (c, "«journald» restarted"),
        (a, "«journalctl» -u nginx"),
    ]
    assert b not in {h.session.id for h in hits}
    assert [(h.session.id, h.line) for h in index.search("journal*", user="ann", limit=1)] == [
        (d, "see «journal».log")
    ]


def test_live_session_text_is_indexed_incrementally(index: SessionIndex) -> None:
    sid = index.new_session_id()
    path = index.recording_path(sid)
    w = RecordingWriter.create(path, {})
    index.start_session(session_id=sid, **FIELDS, recording_path=str(path))
    # A word, an escape sequence and a UTF-8 character split across passes.
    w.append(Stream.OUTPUT, b"first-pass done\r\nca", 0.1)
    w.flush()
    extract_text(index, sid)
    assert [h.session.id for h in index.search("first")] == [sid]
    w.append(Stream.OUTPUT, b"f\x1b[3", 0.2)
    w.flush()
    extract_text(index, sid)
    w.append(Stream.OUTPUT, "1m\u00e9".encode()[:-1], 0.3)
    w.flush()
    extract_text(index, sid)
    w.append(Stream.OUTPUT, "\u00e9 second-pass\r\n".encode()[1:], 0.4)
    w.close()
    index.end_session(sid)
    extract_text(index, sid)
    [hit] = index.search("café")
    # Begun at 0.1, the line was whole on the screen when its end came at 0.4.
    assert (hit.line, hit.t) == ("«café» second-pass", pytest.approx(0.4))
    assert extract_text(index, sid) == 0  # done: nothing indexed twice
    assert text_rows(index, sid) == 2  # one row per pass that completed a line


def test_end_session_anchors_the_recording_hash(index: SessionIndex) -> None:
    from auditor.recording.verification import verify_recording

    sid = recorded_session(index, b"hello\r\n")
    s = index.get_session(sid)
    assert s.recording_hash and verify_recording(Path(s.recording_path or ""), s.recording_hash).ok
