"""``auditor migrate``: a single machine's store (SQLite and recording files)
copied into a shared one (a real PostgreSQL and moto's S3 server), through the
real command line; resumable, and checked with the commands a user runs
against the shared store afterwards (``sessions``, search, ``commands``,
``failures``, ``verify``)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.storage import BucketAddress
from auditor.tui.samples import bundled_samples, import_samples
from auditor.upkeep.termination import request_termination
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.s3 import S3Server

BUCKET = "fleet-recordings"

# A proxy that died with a session open: its row stays `live`, its recording unsealed.
DEAD_PROXY = """
import sys
from pathlib import Path
from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
with SessionIndex.open(Path(sys.argv[1])) as index:
    sid = index.new_session_id()
    path = index.recording_path(sid)
    writer = RecordingWriter.create(path, {"session_id": sid, "start": 1700000300.0})
    index.start_session(sid, start=1700000300.0, user="cid", login="root", node="db2",
                        kind="session", recording_path=str(path))
    writer.append(Stream.OUTPUT, b"half a session of quince\\r\\n", 0.5)
    writer.flush()
    print(sid)
"""


@dataclass
class LocalStore:
    cli: AuditorCli
    ids: list[str]  # every session that is over, the ones migrate copies
    live: str  # a session this (living) process still writes
    interrupted: str  # left live by a proxy that is gone
    terminated: str
    imported: str  # its commands not read yet in the local store

    def recording(self, sid: str) -> Path:
        return self.cli.data_dir / "recordings" / sid[:2] / f"{sid}.rec"


def recorded_session(
    index: SessionIndex, start: float, text: bytes, **fields: object
) -> tuple[str, RecordingWriter]:
    sid = index.new_session_id()
    path = index.recording_path(sid)
    writer = RecordingWriter.create(path, {"session_id": sid, "start": start})
    index.start_session(sid, start=start, recording_path=str(path), kind="session", **fields)
    writer.append(Stream.OUTPUT, text, 0.25)
    writer.flush()
    return sid, writer


@pytest.fixture
def local_store(cli: AuditorCli, tmp_path: Path) -> Iterator[LocalStore]:
    """The bundled sample sessions (real ones, made through the proxy against
    sshd: shells with commands, exec sessions, failures), an imported asciicast,
    a session an auditor terminated, a TCP pipe without a recording, one a dead
    proxy left live, and one still live."""
    samples = bundled_samples()
    assert samples is not None
    cli.data_dir.mkdir(mode=0o700)
    with SessionIndex.open(cli.data_dir) as index:
        sample_ids = sorted(import_samples(index, samples).sessions)
    cli.run("commands")  # the samples' commands read, as a proxy would have
    cast = tmp_path / "deploy.cast"
    cast.write_text(
        '{"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, '
        '"env": {"USER": "joe"}, "title": "deploy"}\n'
        '[0.5, "o", "$ ./deploy --env prod\\r\\n"]\n'
        '[1.25, "o", "deploying \\u001b[1mkumquat\\u001b[0m release\\r\\n"]\n'
    )
    imported = cli.run("import", str(cast)).stdout.split(" as ")[1].split()[0]
    index = SessionIndex.open(cli.data_dir)
    try:
        imported = index.resolve_id(imported)
        terminated, writer = recorded_session(
            index, 1700000100.0, b"tail -f of persimmon\r\n", user="ann", login="root", node="web2"
        )
        request_termination(index, terminated, "auditor-ann", "left running")
        writer.close()
        index.end_session(terminated, end=1700000160.0)
        pipe = index.start_session(start=1700000200.0, user="bob", node="db3", kind="direct-tcpip")
        index.end_session(pipe, end=1700000201.0)
        index.record_failure(
            FailureKind.NODE_UNREACHABLE, "connect refused", node="db9", port=22, attempt=3
        )
        dead = subprocess.run(
            [sys.executable, "-c", DEAD_PROXY, str(cli.data_dir)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        live, writer = recorded_session(
            index, 1700000400.0, b"still typing\r\n", user="dan", login="root", node="web3"
        )
        ids = [*sample_ids, imported, terminated, pipe, dead]
        try:
            yield LocalStore(cli, ids, live, dead, terminated, imported)
        finally:
            writer.close()
    finally:
        index.close()


@pytest.fixture
def shared(cli: AuditorCli, tmp_path: Path, postgres_uri: str, s3: S3Server) -> AuditorCli:
    """Commands run against the shared store, as another machine of the fleet would."""
    s3.create_bucket(BUCKET)
    config = tmp_path / "fleet.yaml"
    config.write_text(
        f"storage:\n  audit_events_uri: {postgres_uri}\n  audit_sessions_uri: {s3.uri(BUCKET)}\n"
    )
    return AuditorCli(tmp_path / "other-machine", config=config)


def object_url(s3: S3Server, sid: str) -> str:
    """The URL the proxy's uploads give a session's recording."""
    return BucketAddress.parse(s3.uri(BUCKET)).url(f"{sid[:2]}/{sid}.rec")


def migrate_args(postgres_uri: str, s3: S3Server) -> list[str]:
    return ["migrate", "--to", postgres_uri, "--sessions-to", s3.uri(BUCKET)]


def as_json(cli: AuditorCli, *args: str) -> list[dict[str, object]]:
    return list(json.loads(cli.run(*args, "--json").stdout))


def rows_by_id(docs: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(d["id"]): d for d in docs}


def summary(stderr: str) -> str:
    [line] = [line for line in stderr.splitlines() if "failures" in line]
    return line


def test_a_machine_is_copied_into_postgresql_and_the_bucket_and_verifies_there(
    local_store: LocalStore, shared: AuditorCli, postgres_uri: str, s3: S3Server
) -> None:
    local = local_store.cli
    run = local.run(*migrate_args(postgres_uri, s3), "--progress-every", "3", check=False)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    n = len(local_store.ids)
    assert "migrate: 3 of " in run.stderr and "migrate: 6 of " in run.stderr  # progress
    assert summary(run.stderr).startswith(
        f"migrate: {n} of {n} sessions copied (0 already there), 3 of 3 failures copied "
        "(0 already there), "
    )
    assert (
        f"migrate: not copied while a proxy records: 1 live session ({local_store.live[:8]}); "
        "run migrate again once it ends"
    ) in run.stderr.splitlines()
    assert (
        "migrate: marked interrupted and copied: 1 session a gone proxy left live"
        in run.stderr.splitlines()
    )

    before = rows_by_id(as_json(local, "sessions", "--limit", "1000"))
    after = rows_by_id(as_json(shared, "sessions", "--limit", "1000"))
    assert sorted(after) == sorted(local_store.ids)  # not the live one
    for sid in local_store.ids:
        mine, theirs = before[sid], after[sid]
        for key in mine:
            if key == "recording_path":
                continue
            assert theirs[key] == mine[key], (sid, key)
        if mine["recording_path"]:
            assert theirs["recording_path"] == object_url(s3, sid)
            assert f"prod/{sid[:2]}/{sid}.rec.idx" in s3.keys(BUCKET)
        else:
            assert theirs["recording_path"] is None
    assert after[local_store.interrupted]["status"] == "interrupted"
    assert after[local_store.terminated]["terminated_by"] == "auditor-ann"
    assert after[local_store.terminated]["termination_reason"] == "left running"

    # The searchable text came along (read back from the objects).
    for word, sid in (("kumquat", local_store.imported), ("quince", local_store.interrupted)):
        [hit] = as_json(shared, "sessions", "--search", word)
        assert hit["id"] == sid
    sample_hits = {d["id"] for d in as_json(local, "sessions", "--search", "items")}
    assert sample_hits and {d["id"] for d in as_json(shared, "sessions", "--search", "items")} == (
        sample_hits
    )

    # Commands: those read here copied, the unread ones read during the copy.
    theirs_commands = as_json(shared, "commands", "--limit", "1000")
    assert theirs_commands == as_json(local, "commands", "--limit", "1000")
    assert theirs_commands
    assert as_json(shared, "failures") == as_json(local, "failures")

    verified = shared.run("verify")
    recorded = sum(1 for sid in local_store.ids if before[sid]["recording_path"])
    assert verified.stdout.splitlines()[-1] == f"{recorded} recordings checked, 0 damaged"
    assert shared.run("verify", local_store.imported[:8]).stdout.startswith(
        f"{local_store.imported[:8]}  ok: "
    )
    assert shared.run("export", local_store.terminated[:8], "--format", "text").stdout == (
        "tail -f of persimmon\n"
    )

    # Again: nothing new is copied, nothing is sent twice, nothing doubles.
    again = local.run(*migrate_args(postgres_uri, s3), check=False)
    assert again.returncode == 0, again.stderr
    assert summary(again.stderr).startswith(
        f"migrate: 0 of {n} sessions copied ({n} already there), 0 of 3 failures copied "
        "(3 already there), 0B uploaded"
    )
    assert len(as_json(shared, "sessions", "--limit", "1000")) == n
    assert len(as_json(shared, "failures")) == 3
    assert as_json(shared, "commands", "--limit", "1000") == theirs_commands
    [hit] = as_json(shared, "sessions", "--search", "kumquat")
    assert hit["match"] == "deploying «kumquat» release"


def writing_into(fifo: Path, proc: subprocess.Popen[str]) -> int:
    """The write end of ``fifo`` once ``proc`` has opened it to read: it has got
    that far, and waits there for bytes."""

    def opened() -> int | None:
        assert proc.poll() is None, proc.communicate()
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None

    return eventually(opened, timeout=60, what=f"migrate reading {fifo.name}")


def swap_for_fifo(recording: Path) -> Path:
    """The recording moved aside and a named pipe in its place: reading it blocks."""
    kept = recording.with_name(recording.name + ".kept")
    recording.rename(kept)
    os.mkfifo(recording, 0o600)
    return kept


def test_a_killed_then_interrupted_migration_resumes_without_copying_anything_twice(
    local_store: LocalStore, shared: AuditorCli, postgres_uri: str, s3: S3Server
) -> None:
    local = local_store.cli
    # Newest first: the samples, the dead proxy's, the pipe, then these two.
    terminated = local_store.recording(local_store.terminated)
    imported = local_store.recording(local_store.imported)
    kept = {terminated: swap_for_fifo(terminated), imported: swap_for_fifo(imported)}
    command = [sys.executable, "-m", "auditor", *migrate_args(postgres_uri, s3)]

    first = subprocess.Popen(command, env=local.environ(), stderr=subprocess.PIPE, text=True)
    fd = writing_into(terminated, first)
    first.kill()  # SIGKILL: no goodbye
    first.communicate(timeout=30)
    os.close(fd)
    terminated.unlink()
    kept[terminated].rename(terminated)
    copied = len(as_json(shared, "sessions", "--limit", "1000"))
    assert copied == len(local_store.ids) - 2
    assert len(as_json(shared, "failures")) == 3

    second = subprocess.Popen(command, env=local.environ(), stderr=subprocess.PIPE, text=True)
    fd = writing_into(imported, second)
    second.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = second.communicate(timeout=30)
    os.close(fd)
    assert second.returncode == 130, err
    assert err.splitlines()[-1] == (
        "auditor: interrupted: 1 session and 0 failures copied so far; "
        "run the same command again to continue"
    )
    imported.unlink()
    kept[imported].rename(imported)

    third = local.run(*migrate_args(postgres_uri, s3))
    n = len(local_store.ids)
    assert summary(third.stderr).startswith(
        f"migrate: 1 of {n} sessions copied ({n - 1} already there), 0 of 3 failures copied "
        "(3 already there), "
    )
    assert sorted(d["id"] for d in as_json(shared, "sessions", "--limit", "1000")) == sorted(
        local_store.ids
    )
    assert len(as_json(shared, "failures")) == 3
    assert shared.run("verify").stdout.splitlines()[-1].endswith(" recordings checked, 0 damaged")
    [hit] = as_json(shared, "sessions", "--search", "kumquat")
    assert hit["id"] == local_store.imported


def test_the_bucket_gone_midway_stops_in_one_line_and_a_second_run_finishes(
    local_store: LocalStore, shared: AuditorCli, postgres_uri: str, s3: S3Server
) -> None:
    local = local_store.cli
    terminated = local_store.recording(local_store.terminated)
    kept = swap_for_fifo(terminated)
    command = [sys.executable, "-m", "auditor", *migrate_args(postgres_uri, s3)]
    run = subprocess.Popen(command, env=local.environ(), stderr=subprocess.PIPE, text=True)
    fd = writing_into(terminated, run)
    s3.stop()
    os.close(fd)  # an empty recording: that session is reported, then the next upload fails
    _, err = run.communicate(timeout=120)
    assert run.returncode == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0] == (
        f"migrate: session {local_store.terminated[:8]} not copied: {terminated}: offset 0: "
        "truncated header"
    )
    assert lines[1] == (
        f"auditor: --sessions-to: cannot reach {s3.endpoint} (connection failed); "
        f"{len(local_store.ids) - 2} sessions and 3 failures copied so far; "
        "run the same command again to continue"
    )

    s3.start()  # the same port, the same buckets
    terminated.unlink()
    kept.rename(terminated)
    again = local.run(*migrate_args(postgres_uri, s3))
    n = len(local_store.ids)
    assert summary(again.stderr).startswith(
        f"migrate: 2 of {n} sessions copied ({n - 2} already there), 0 of 3 failures copied "
        "(3 already there), "
    )
    assert len(as_json(shared, "sessions", "--limit", "1000")) == n
    assert shared.run("verify").stdout.splitlines()[-1].endswith(" recordings checked, 0 damaged")


def test_a_recording_that_cannot_be_read_is_reported_and_the_rest_is_copied(
    local_store: LocalStore, shared: AuditorCli, postgres_uri: str, s3: S3Server
) -> None:
    missing = local_store.recording(local_store.imported)
    missing.unlink()
    run = local_store.cli.run(*migrate_args(postgres_uri, s3), check=False)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert (
        f"migrate: session {local_store.imported[:8]} not copied: {missing}: recording file "
        "not found"
    ) in run.stderr.splitlines()
    n = len(local_store.ids)
    assert summary(run.stderr).startswith(f"migrate: {n - 1} of {n} sessions copied")
    assert run.stderr.splitlines()[-1] == (
        "migrate: not copied: 1 session whose recording cannot be read "
        "(see above; `auditor verify ID` says more)"
    )
    copied = {d["id"] for d in as_json(shared, "sessions", "--limit", "1000")}
    assert copied == set(local_store.ids) - {local_store.imported}
    assert shared.run("verify").stdout.splitlines()[-1].endswith(" recordings checked, 0 damaged")


def test_a_dry_run_copies_nothing_and_without_a_bucket_the_rows_name_the_local_files(
    local_store: LocalStore, tmp_path: Path, postgres_uri: str, s3: S3Server
) -> None:
    local = local_store.cli
    s3.create_bucket(BUCKET)
    dry = local.run(*migrate_args(postgres_uri, s3), "--dry-run")
    listed = dry.stdout.splitlines()
    assert listed[0].split() == ["ID", "START", "STATUS", "USER", "TARGET", "RECORDING"]
    # The dead proxy's session is still live until a real run marks it interrupted.
    would = sorted(sid for sid in local_store.ids if sid != local_store.interrupted)
    assert sorted(line.split()[0] for line in listed[1:]) == [sid[:8] for sid in would]
    n = len(local_store.ids)
    assert summary(dry.stderr).startswith(
        f"migrate: {n - 1} of {n - 1} sessions would be copied (0 already there), "
        "3 of 3 failures would be copied (0 already there), up to "
    )
    assert "migrate: not copied while live: 2 live sessions (" in dry.stderr
    assert summary(dry.stderr).endswith("; nothing was changed")
    assert s3.keys(BUCKET) == []
    index_only = tmp_path / "index-only.yaml"
    index_only.write_text(f"storage:\n  audit_events_uri: {postgres_uri}\n")
    fleet = AuditorCli(local.data_dir, config=index_only)
    assert fleet.run("sessions").stdout.strip() == "no sessions"
    assert fleet.run("failures").stdout.strip() == "no failures"

    run = local.run("migrate", "--to", postgres_uri)
    assert summary(run.stderr) == (
        f"migrate: {n} of {n} sessions copied (0 already there), "
        "3 of 3 failures copied (0 already there)"
    )
    for doc in as_json(fleet, "sessions", "--limit", "1000"):
        if doc["recording_path"]:
            sid = str(doc["id"])
            assert doc["recording_path"] == str(local_store.recording(sid))
    assert fleet.run("verify").stdout.splitlines()[-1].endswith(" recordings checked, 0 damaged")
    assert s3.keys(BUCKET) == []


def one_line_error(cli: AuditorCli, *args: str) -> str:
    proc = cli.run(*args, check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_bad_targets_are_one_line(local_store: LocalStore, postgres_uri: str, s3: S3Server) -> None:
    local = local_store.cli
    assert one_line_error(local, "migrate", "--to", "mysql://db/auditor") == (
        "auditor: --to: scheme 'mysql://' in 'mysql://db/auditor' is not a shared index; "
        "expected postgresql://USER@HOST:PORT/DATABASE"
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    line = one_line_error(
        local, "migrate", "--to", f"postgresql://auditor:secret@127.0.0.1:{closed}/auditor"
    )
    assert line.startswith(
        f"auditor: --to: cannot connect to postgresql://auditor:***@127.0.0.1:{closed}/auditor: "
    )
    assert "secret" not in line
    assert one_line_error(
        local, "migrate", "--to", postgres_uri, "--sessions-to", s3.uri("no-such-bucket")
    ) == (f"auditor: --sessions-to: bucket 'no-such-bucket' does not exist at {s3.endpoint}")
    assert (
        one_line_error(
            local, "migrate", "--to", postgres_uri, "--sessions-to", "file:///srv/recordings"
        )
        == "auditor: --sessions-to: expected s3://BUCKET/PREFIX, got 'file:///srv/recordings'"
    )
    # Nothing went anywhere.
    with SessionIndex.open(local.data_dir, uri=postgres_uri) as index:
        assert index.session_count() == 0
