"""``storage:`` in the config picks where the index and the recordings live; a
mistake in it is one line naming the key, never a traceback."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream
from tests.harness.auditor_cli import AuditorCli
from tests.harness.postgres import PASSWORD, PostgresServer
from tests.harness.s3 import S3Server


def with_config(cli: AuditorCli, tmp_path: Path, text: str) -> AuditorCli:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return AuditorCli(cli.data_dir, config=path)


def one_line_error(cli: AuditorCli, *args: str) -> str:
    proc = cli.run(*args, check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_an_unknown_index_scheme_is_one_line_naming_the_key(
    cli: AuditorCli, tmp_path: Path
) -> None:
    bad = with_config(cli, tmp_path, "storage: {audit_events_uri: 'mysql://db/auditor'}\n")
    line = one_line_error(bad, "sessions")
    assert "storage.audit_events_uri: scheme 'mysql://'" in line
    assert "postgresql://" in line


def test_recordings_in_another_directory_are_refused_and_a_bucket_is_checked_at_start(
    cli: AuditorCli, tmp_path: Path, s3: S3Server
) -> None:
    cli.data_dir.mkdir(mode=0o700)
    here = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: 'file://{cli.data_dir}/recordings'}}\n"
    )
    assert here.run("sessions").stdout.strip() == "no sessions"
    elsewhere = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: 'file://{tmp_path}/elsewhere'}}\n"
    )
    line = one_line_error(elsewhere, "sessions")
    assert "storage.audit_sessions_uri:" in line and "is not supported" in line
    missing = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: '{s3.uri('no-such-bucket')}'}}\n"
    )
    assert one_line_error(missing, "failures") == (
        f"auditor: storage.audit_sessions_uri: bucket 'no-such-bucket' does not exist at "
        f"{s3.endpoint}"
    )
    s3.create_bucket("recordings")
    there = with_config(
        cli, tmp_path, f"storage: {{audit_sessions_uri: '{s3.uri('recordings')}'}}\n"
    )
    assert there.run("sessions").stdout.strip() == "no sessions"
    s3.stop()
    assert one_line_error(there, "sessions") == (
        f"auditor: storage.audit_sessions_uri: cannot reach {s3.endpoint} (connection failed)"
    )


def postgres_cli(cli: AuditorCli, tmp_path: Path, uri: str) -> AuditorCli:
    return with_config(cli, tmp_path, f"storage:\n  audit_events_uri: {uri}\n")


def test_commands_work_unchanged_against_a_postgresql_index(
    cli: AuditorCli, tmp_path: Path, postgres_uri: str
) -> None:
    pg = postgres_cli(cli, tmp_path, postgres_uri)
    cast = tmp_path / "deploy.cast"
    cast.write_text(
        '{"version": 2, "width": 80, "height": 24, "timestamp": 1700000000, '
        '"env": {"USER": "joe"}, "title": "deploy"}\n'
        '[0.5, "o", "$ ./deploy --env prod\\r\\n"]\n'
        '[1.25, "o", "deploying \\u001b[1mkumquat\\u001b[0m release\\r\\n"]\n'
    )
    out = pg.run("import", str(cast)).stdout
    short = out.split(" as ")[1].split()[0]
    with SessionIndex.open(pg.data_dir, uri=postgres_uri) as index:
        index.record_failure(FailureKind.MAXSTARTUPS, "dropped by the node", node="db1", port=22)
        live = index.start_session(user="ann", login="root", node="web1", command="top")

    listed = pg.run("sessions").stdout
    assert short in listed and live[:8] in listed and "deploy" in listed
    found = pg.run("sessions", "--search", "kumq*").stdout
    assert short in found and "deploying «kumquat» release" in found
    assert live[:8] not in found
    assert pg.run("sessions", "--search", "pomegranate").stdout.strip() == "no sessions match"
    [doc] = json.loads(pg.run("sessions", "--search", "prod", "--json").stdout)
    assert doc["match"] == "$ ./deploy --env «prod»" and doc["match_t"] == 0.5
    assert [s["id"][:8] for s in json.loads(pg.run("sessions", "--live", "--json").stdout)] == [
        live[:8]
    ]

    failures = pg.run("failures").stdout
    assert "maxstartups" in failures and "dropped by the node" in failures
    assert "MaxStartups 50:30:100" in failures

    assert pg.run("export", short, "--format", "text").stdout == (
        "$ ./deploy --env prod\ndeploying kumquat release\n"
    )
    assert pg.run("verify", short).stdout.startswith(f"{short}  ok: ")
    # The embedded index was never created: everything went to the server.
    assert not (pg.data_dir / "index.db").exists()
    assert cli.run("sessions").stdout.strip() == "no sessions"


def test_an_unreachable_server_is_one_line_naming_the_key(cli: AuditorCli, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens once it is closed
    pg = postgres_cli(cli, tmp_path, f"postgresql://auditor@127.0.0.1:{closed}/auditor")
    line = one_line_error(pg, "sessions")
    assert line.startswith(
        f"auditor: storage.audit_events_uri: cannot connect to "
        f"postgresql://auditor@127.0.0.1:{closed}/auditor: "
    )
    assert "refused" in line.lower()


def test_a_wrong_database_or_password_is_one_line_naming_the_key(
    cli: AuditorCli, tmp_path: Path, postgres_server: PostgresServer
) -> None:
    pg = postgres_cli(cli, tmp_path, postgres_server.uri("no_such_db"))
    line = one_line_error(pg, "failures")
    assert "storage.audit_events_uri: cannot connect to" in line
    assert 'database "no_such_db" does not exist' in line
    assert PASSWORD not in line

    pg = postgres_cli(cli, tmp_path, postgres_server.uri("postgres", password="not-it"))
    line = one_line_error(pg, "sessions", "--search", "x")
    assert "storage.audit_events_uri:" in line and "password authentication failed" in line
    assert "not-it" not in line


def test_replay_and_tail_live_read_their_sessions_from_postgresql(
    cli: AuditorCli, tmp_path: Path, postgres_uri: str
) -> None:
    pg = postgres_cli(cli, tmp_path, postgres_uri)
    pg.data_dir.mkdir(mode=0o700)
    with SessionIndex.open(pg.data_dir, uri=postgres_uri) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        began = time.time()
        writer = RecordingWriter.create(path, {"session_id": sid, "start": began})

        def since() -> float:
            # What the proxy stamps: wall-clock seconds since the recording's start,
            # the clock tail uses to follow "from now on".
            return time.time() - began

        index.start_session(sid, user="ann", login="root", node="web1", recording_path=str(path))
        writer.append(Stream.OUTPUT, b"before the tail\r\n", since())
        writer.flush()
        tail = subprocess.Popen(
            [sys.executable, "-m", "auditor", "tail", "--live", sid[:8]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=pg.environ(),
        )
        try:
            assert tail.stdout is not None and tail.stderr is not None
            # It follows from the end: write once it says it is following.
            assert b"following session" in tail.stderr.readline()
            os.set_blocking(tail.stdout.fileno(), False)
            writer.append(Stream.OUTPUT, b"kumquat while live\r\n", since())
            writer.flush()
            seen = b""
            deadline = time.monotonic() + 30
            while b"kumquat while live" not in seen:
                if time.monotonic() > deadline:
                    tail.kill()
                    raise AssertionError(f"tail showed {seen!r}; {tail.stderr.read()!r}")
                select.select([tail.stdout], [], [], 0.5)
                seen += tail.stdout.read() or b""
            writer.append(Stream.EXIT, b"0", since())
            writer.close()
            index.end_session(sid, exit_status=0)
            assert tail.wait(30) == 0  # one session followed: done when it ends
        finally:
            if tail.poll() is None:
                tail.kill()
                tail.wait()
        assert f"session {sid[:8]} ended" in tail.stderr.read().decode()
    replayed = pg.run("replay", sid[:8]).stdout  # into a pipe: the transcript
    assert replayed.splitlines() == ["before the tail", "kumquat while live"]
