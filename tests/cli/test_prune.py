"""`auditor prune [--dry-run]`: the retention policy applied to sessions dated back by the test."""

from __future__ import annotations

import json
import time
from pathlib import Path

from auditor.index import FailureKind, SessionIndex
from auditor.index.rows import CommandRow
from auditor.recording import RecordingWriter, Stream
from auditor.upkeep.text_extraction import extract_text
from tests.harness.auditor_cli import AuditorCli

DAY = 86400.0
POLICY = "retention: {sessions: 90d, failures: 365d}\n"


def recorded(index: SessionIndex, start: float, end: float | None, text: bytes) -> str:
    """A session with a recording and both sidecars on disk; ended at ``end``, or live."""
    sid = index.new_session_id()
    path = index.recording_path(sid)
    with RecordingWriter.create(path, {"session_id": sid}) as w:
        w.append(Stream.OUTPUT, text, 0.5)
    path.with_name(path.name + ".keyframes").write_bytes(b"keyframes")
    index.start_session(
        sid, user="joe", login="root", node="db1", kind="session", start=start,
        recording_path=str(path),
    )  # fmt: skip
    if end is not None:
        index.end_session(sid, exit_status=0, end=end)
        extract_text(index, sid)
        index.store_commands(sid, [CommandRow(sid, 0.5, start, "cat /etc/kumquat", "$ ")])
    return sid


def files(index: SessionIndex, sid: str) -> list[Path]:
    return sorted(index.recording_path(sid).parent.glob(sid + ".rec*"))


def test_prune_dry_run_then_prune_removes_old_sessions_and_failures_never_a_live_one(
    cli: AuditorCli, tmp_path: Path
) -> None:
    now = time.time()
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        old = recorded(index, now - 100 * DAY, now - 100 * DAY + 60, b"kumquat old\r\n")
        recent = recorded(index, now - 10 * DAY, now - 10 * DAY + 60, b"kumquat new\r\n")
        live = recorded(index, now - 200 * DAY, None, b"kumquat live\r\n")
        for age in (400, 30):
            index.record_failure(FailureKind.MAXSTARTUPS, f"{age}d", time=now - age * DAY)
        assert [p.name for p in files(index, old)] == [
            f"{old}.rec", f"{old}.rec.idx", f"{old}.rec.keyframes"
        ]  # fmt: skip
        before = {sid: files(index, sid) for sid in (old, recent, live)}
        assert len(index.search("kumquat")) == 2  # the ended ones
    cli.config = tmp_path / "auditor.yaml"
    cli.config.write_text(POLICY)
    audit = cli.data_dir / "audit.log"

    out = cli.run("prune", "--dry-run").stdout.splitlines()
    assert out[0].split() == ["ID", "ENDED", "STATUS", "USER", "TARGET"]
    assert out[1].startswith(old[:8]) and "root@db1" in out[1]
    # Then the files themselves, as the README promises: each path with its size.
    assert out[2:4] == ["", "files and objects:"]
    listed = [line.split()[-1] for line in out[4:7]]
    assert listed == [str(p) for p in before[old]]
    assert len(out) == 9 and out[7] == ""
    assert out[8].startswith("would remove 1 session(s) ended before ")
    assert "(3 recording file(s), " in out[8] and "and 1 failure(s) before " in out[8]
    with SessionIndex.open(cli.data_dir) as index:  # nothing changed
        assert {sid: files(index, sid) for sid in before} == before
        assert len(index.sessions()) == 3 and len(index.failures()) == 2
    assert not audit.exists()

    out = cli.run("prune").stdout.splitlines()
    assert len(out) == 1 and out[0].startswith("removed 1 session(s) ended before ")
    with SessionIndex.open(cli.data_dir) as index:
        assert files(index, old) == []
        assert files(index, recent) == before[recent] and files(index, live) == before[live]
        assert {s.id for s in index.sessions()} == {recent, live}
        assert index.get_session(live).live
        assert [h.session.id for h in index.search("kumquat")] == [recent]
        assert {c.session_id for c in index.commands()} == {recent}
        assert [f.message for f in index.failures()] == ["30d"]
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [e["event"] for e in events] == ["session_pruned", "prune"]
    assert events[0]["session_id"] == old and events[0]["user"] == "joe"
    summary = events[1]
    assert (summary["sessions"], summary["failures"], summary["files"]) == (1, 1, 3)
    assert summary["bytes"] > 0

    again = cli.run("prune").stdout
    assert again.startswith("removed 0 session(s) ended before ")


def test_prune_without_a_policy_keeps_everything(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        index.record_failure(FailureKind.MAXSTARTUPS, "old", time=time.time() - 5000 * DAY)
    out = cli.run("prune").stdout
    assert out.startswith("no retention policy: sessions and failures are kept for good")
    with SessionIndex.open(cli.data_dir) as index:
        assert len(index.failures()) == 1
