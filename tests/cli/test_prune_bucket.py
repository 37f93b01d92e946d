"""`auditor prune` with recordings uploaded to a bucket (moto's S3 server): their
objects go with the sessions, before the rows, so a bucket that fails keeps the
rows for the next prune; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from auditor.audit_log import AuditLog
from auditor.config import Retention
from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.recording.bucket import Bucket, BucketError
from auditor.sizes import format_size
from auditor.upkeep.retention import prune
from tests.harness.auditor_cli import AuditorCli
from tests.harness.s3 import S3Server

DAY = 86400.0
BUCKET = "recordings"


@pytest.fixture(params=["sqlite", "postgresql"])
def events_uri(request: pytest.FixtureRequest) -> str | None:
    """``storage.audit_events_uri``: None is the embedded default."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_uri"))


def uploaded(index: SessionIndex, bucket: Bucket, start: float, end: float | None) -> str:
    """A session whose sealed recording (and sidecars) went to the bucket, as the
    proxy's uploads leave it: the index names the object, the spool is empty."""
    sid = index.new_session_id()
    path = index.recording_path(sid)
    with RecordingWriter.create(path, {"session_id": sid}) as w:
        w.append(Stream.OUTPUT, b"kumquat " * 100 + b"\r\n", 0.5)
    path.with_name(path.name + ".keyframes").write_bytes(b"keyframes")
    index.start_session(
        sid, user="joe", login="root", node="db1", kind="session", start=start,
        recording_path=str(path),
    )  # fmt: skip
    if end is not None:
        index.end_session(sid, exit_status=0, end=end)
    url = bucket.upload(path, f"{sid[:2]}/{sid}.rec")
    index.update_session(sid, recording_path=url)
    for p in path.parent.glob(sid + ".rec*"):
        p.unlink()
    return sid


def keys(s3: S3Server, sid: str) -> list[str]:
    return [k for k in s3.keys(BUCKET) if sid in k]


def stored_bytes(s3: S3Server, *sids: str) -> int:
    listed = s3.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sum(o["Size"] for o in listed if any(sid in o["Key"] for sid in sids))


def configured(cli: AuditorCli, tmp_path: Path, s3: S3Server, events: str | None) -> AuditorCli:
    config = tmp_path / "auditor.yaml"
    lines = ["retention: {sessions: 90d}", "storage:", f"  audit_sessions_uri: '{s3.uri(BUCKET)}'"]
    if events:
        lines.append(f"  audit_events_uri: '{events}'")
    config.write_text("\n".join(lines) + "\n")
    return AuditorCli(cli.data_dir, config=config)


def test_prune_deletes_old_sessions_objects_and_dry_run_keeps_them(
    cli: AuditorCli, tmp_path: Path, s3: S3Server, events_uri: str | None
) -> None:
    s3.create_bucket(BUCKET)
    bucket = Bucket(s3.uri(BUCKET))
    now = time.time()
    cli.data_dir.mkdir(mode=0o700)
    with SessionIndex.open(cli.data_dir, uri=events_uri) as index:
        old = uploaded(index, bucket, now - 100 * DAY, now - 100 * DAY + 60)
        expired = uploaded(index, bucket, now - 95 * DAY, now - 95 * DAY + 60)
        recent = uploaded(index, bucket, now - 10 * DAY, now - 10 * DAY + 60)
        live = uploaded(index, bucket, now - 200 * DAY, None)
    assert [k.rsplit("/", 1)[-1] for k in keys(s3, old)] == [
        f"{old}.rec", f"{old}.rec.idx", f"{old}.rec.keyframes"
    ]  # fmt: skip
    # A lifecycle rule took one already: gone counts as deleted, its row still goes.
    s3.client().delete_object(Bucket=BUCKET, Key=f"prod/{expired[:2]}/{expired}.rec")
    before = s3.keys(BUCKET)
    size = format_size(stored_bytes(s3, old, expired))
    pruner = configured(cli, tmp_path, s3, events_uri)
    audit = cli.data_dir / "audit.log"

    out = pruner.run("prune", "--dry-run").stdout.splitlines()
    assert [line[:8] for line in out[1:3]] == [old[:8], expired[:8]]
    assert out[3:5] == ["", "files and objects:"]
    listed = sorted(line.split()[-1].rsplit("/", 1)[-1] for line in out[5:-2])
    assert all(line.split()[-2] == "object" for line in out[5:-2])
    assert listed == sorted(k.rsplit("/", 1)[-1] for k in before if old in k or expired in k)
    assert out[-1].startswith("would remove 2 session(s) ended before ")
    assert out[-1].endswith(f"(5 object(s) in the bucket, {size})")
    assert s3.keys(BUCKET) == before and not audit.exists()

    out = pruner.run("prune").stdout.splitlines()
    assert len(out) == 1 and out[0].startswith("removed 2 session(s) ended before ")
    assert out[0].endswith(f"(5 object(s) in the bucket, {size})")
    assert keys(s3, old) == [] and keys(s3, expired) == []
    assert len(keys(s3, recent)) == 3 and len(keys(s3, live)) == 3
    with SessionIndex.open(cli.data_dir, uri=events_uri) as index:
        assert {s.id for s in index.sessions()} == {recent, live}
    summary = [json.loads(line) for line in audit.read_text().splitlines()][-1]
    assert summary["event"] == "prune" and "error" not in summary
    assert (summary["sessions"], summary["files"], summary["objects"]) == (2, 0, 5)
    assert format_size(summary["object_bytes"]) == size

    again = pruner.run("prune").stdout
    assert again.startswith("removed 0 session(s) ended before ") and "object" not in again


def test_a_bucket_that_fails_keeps_the_rows_and_the_next_prune_finishes(
    cli: AuditorCli, tmp_path: Path, s3: S3Server, events_uri: str | None
) -> None:
    s3.create_bucket(BUCKET)
    # The same buckets through a second endpoint (moto keeps them per process): one
    # session's recording was uploaded through it, and it goes down.
    other = S3Server()
    other.start()
    try:
        now = time.time()
        cli.data_dir.mkdir(mode=0o700)
        with SessionIndex.open(cli.data_dir, uri=events_uri) as index:
            here, there = Bucket(s3.uri(BUCKET)), Bucket(other.uri(BUCKET))
            first = uploaded(index, here, now - 120 * DAY, now - 120 * DAY + 5)
            second = uploaded(index, there, now - 110 * DAY, now - 110 * DAY + 5)
            third = uploaded(index, here, now - 100 * DAY, now - 100 * DAY + 5)
            other.stop()
            audit = AuditLog(tmp_path / "audit.log")
            with pytest.raises(BucketError) as failed:
                prune(index, Retention(sessions=90 * DAY), audit)
            audit.close()
            assert str(failed.value) == (
                f"storage.audit_sessions_uri: cannot reach {other.endpoint} (connection "
                f"failed); s3://{BUCKET}/prod/{second[:2]}/{second}.rec not deleted"
            )
            # The one before it went; it and the ones after it stay, objects and rows.
            assert keys(s3, first) == []
            assert len(keys(s3, second)) == 3 and len(keys(s3, third)) == 3
            assert [s.id for s in index.sessions()] == [third, second]
        log = [json.loads(line) for line in (tmp_path / "audit.log").read_text().splitlines()]
        assert [e["event"] for e in log] == ["session_pruned", "prune"]
        assert log[0]["session_id"] == first
        assert (log[1]["sessions"], log[1]["objects"]) == (1, 3)
        assert log[1]["error"] == str(failed.value)

        # The configured store down too: the command says so in one line, keeps the rows.
        pruner = configured(cli, tmp_path, s3, events_uri)
        s3.stop()
        proc = pruner.run("prune", check=False)
        assert proc.returncode != 0 and proc.stdout == ""
        assert proc.stderr.splitlines() == [
            f"auditor: storage.audit_sessions_uri: cannot reach {s3.endpoint} (connection failed)"
        ]
        # Both back: the next prune finishes the job.
        s3.start()
        other.start()
        out = pruner.run("prune").stdout
        assert out.startswith("removed 2 session(s) ended before ")
        assert "(6 object(s) in the bucket, " in out
        assert s3.keys(BUCKET) == []
        with SessionIndex.open(cli.data_dir, uri=events_uri) as index:
            assert index.sessions() == []
    finally:
        other.stop()
