"""Live sessions of other machines (a shared index): published flushes, the
mirror that follows them, wake-ups, and leases."""

from __future__ import annotations

import time
from pathlib import Path

from auditor.index import SessionIndex
from auditor.index.owner import this_host
from auditor.proxy.live import LivePublisher
from auditor.recording import RecordingReader, RecordingWriter, Stream
from auditor.replay.follow import Follower
from auditor.replay.remote import Mirrors
from auditor.upkeep.recovery import recover_interrupted
from tests.harness.eventually import eventually


def test_a_mirror_follows_published_flushes_as_the_recording_itself(
    tmp_path: Path, postgres_uri: str
) -> None:
    writer_dir, reader_dir = tmp_path / "proxy-a", tmp_path / "elsewhere"
    proxy_index = SessionIndex.open(writer_dir, uri=postgres_uri)
    viewer = SessionIndex.open(reader_dir, uri=postgres_uri)
    publisher = LivePublisher(proxy_index.reopen)
    publisher.start()
    try:
        sid = SessionIndex.new_session_id()
        path = proxy_index.recording_path(sid)
        writer = RecordingWriter.create(path, {"session_id": sid})
        proxy_index.start_session(sid, user="ann", recording_path=str(path))
        publisher.add(sid, path)
        writer.append(Stream.OUTPUT, b"first line\r\n")
        writer.flush()
        with Mirrors(viewer) as mirrors:
            reader = eventually(
                lambda: _reader(mirrors, viewer, sid), timeout=10, what="the first flush"
            )
            assert reader.source.name.startswith(f"session {sid[:8]} (live")
            follower = Follower.from_time(reader, 0.0)
            got = eventually(follower.poll, what="the first record")
            assert [r.data for r in got if r.stream == Stream.OUTPUT] == [b"first line\r\n"]
            writer.append(Stream.OUTPUT, b"second\r\n")
            writer.append(Stream.INPUT, b"ls\r")
            writer.flush()
            got = eventually(follower.poll, what="the second flush, woken by NOTIFY")
            assert [r.data for r in got] == [b"second\r\n", b"ls\r"]
            writer.close()
            publisher.final(sid).result(10)
            eventually(lambda: follower.poll() or follower.sealed, what="the seal")
            assert follower.sealed
            # The mirror is the recording, byte for byte, chain and all.
            assert reader.path.read_bytes() == path.read_bytes()
            assert RecordingReader(reader.path).summary().final_hash == writer.final_hash
        proxy_index.end_session(sid)
        # A minute on, no follower needs the copies: the ended session reads where it is.
        assert viewer.live_chunks(sid, 0)
        assert viewer.forget_live(time.time() + 1) > 0
        assert viewer.live_chunks(sid, 0) == []
    finally:
        publisher.stop()
        proxy_index.close()
        viewer.close()


def _reader(mirrors: Mirrors, index: SessionIndex, sid: str) -> RecordingReader | None:
    try:
        return mirrors.reader(index.get_session(sid))
    except Exception:
        return None


def test_interrupted_sessions_keep_their_copies_until_uploaded(
    tmp_path: Path, postgres_uri: str
) -> None:
    from auditor.index.rows import LiveChunk

    with SessionIndex.open(tmp_path, uri=postgres_uri) as index:
        sid = index.start_session(recording_path=str(tmp_path / "gone.rec"))
        index.publish_live(sid, LiveChunk(0, b"x" * 10, 0.0, 1))
        index.publish_live(sid, LiveChunk(0, b"x" * 10, 0.0, 1))  # a retry: once
        assert [c.end for c in index.live_chunks(sid, 0)] == [10]
        index.end_session(sid, status="interrupted", end=time.time() - 3600)
        assert index.forget_live(time.time()) == 0
        index.update_session(sid, recording_path="s3://b/p/gone.rec")
        assert index.forget_live(time.time()) == 1


def test_another_machines_sessions_end_when_its_lease_runs_out(
    tmp_path: Path, postgres_uri: str
) -> None:
    with SessionIndex.open(tmp_path, uri=postgres_uri) as index:
        leased = index.start_session(user="leased")
        lapsed = index.start_session(user="lapsed")
        unleased = index.start_session(user="unleased")
        now = time.time()
        conn = index.conn  # type: ignore[attr-defined]
        owners = {leased: "far:1:1", lapsed: "far:2:2", unleased: "far:3:3"}
        for sid, owner in owners.items():
            conn.execute(
                "UPDATE sessions SET owner = %s, updated = %s WHERE id = %s",
                [owner, now - 120, sid],
            )
        conn.execute(
            "INSERT INTO proxy_leases VALUES ('far:1:1', 'a', %s, %s), ('far:2:2', 'b', %s, %s)",
            [now, now + 30, now - 60, now - 30],
        )
        assert recover_interrupted(index) == 2
        status = {s.user: s.status for s in index.sessions()}
        assert status == {"leased": "live", "lapsed": "interrupted", "unleased": "interrupted"}
        # This machine's own live sessions are judged by their PID, not a lease.
        mine = index.start_session(user="mine")
        conn.execute("UPDATE sessions SET owner = %s WHERE id = %s", [f"{this_host()}:1:1", mine])
        recover_interrupted(index)
        assert index.get_session(mine).status == "interrupted"


def test_the_embedded_index_trusts_other_hosts_and_publishes_nothing(tmp_path: Path) -> None:
    with SessionIndex.open(tmp_path) as index:
        assert not index.shares_live and index.live_listener() is None
        sid = index.start_session(user="far")
        index.conn.execute(  # type: ignore[attr-defined]
            "UPDATE sessions SET owner = 'far:1:1', updated = 0 WHERE id = ?", [sid]
        )
        assert recover_interrupted(index) == 0


def test_a_session_ended_late_keeps_its_writers_anchor(index: SessionIndex, tmp_path: Path) -> None:
    """The row's end can be written after the index was away a while, when the
    spool file is already in the bucket and gone from here."""
    path = tmp_path / "spool" / "late.rec"
    writer = RecordingWriter.create(path, {"session_id": "late"})
    writer.append(Stream.OUTPUT, b"done\r\n")
    writer.close()
    sid = index.start_session(recording_path=str(path))
    path.unlink()
    index.end_session(sid, anchor=writer.final_hash)
    assert index.get_session(sid).recording_hash == writer.final_hash
