"""`auditor terminate`: a live session through the real proxy ended from another process."""

from __future__ import annotations

import json
import time
from pathlib import Path

from auditor.index.owner import os_user
from auditor.recording import RecordingReader, Stream
from tests.harness.background import Background
from tests.harness.eventually import eventually
from tests.proxy.conftest import Setup
from tests.replay.sessions import run, sessions, ssh_session, wait_sessions

MESSAGE = "auditor: session terminated by an auditor: "


def audit_events(setup: Setup, event: str) -> list[dict[str, object]]:
    lines = (setup.cli.data_dir / "audit.log").read_text().splitlines()
    return [doc for doc in map(json.loads, lines) if doc["event"] == event]


def test_terminate_ends_a_command_within_a_second_and_says_who_and_why(setup: Setup) -> None:
    client = Background(
        setup.client.argv("-p", str(setup.node.port), setup.target(), "echo started; sleep 120"),
        setup.client.env(),
    )
    try:
        sid = wait_sessions(setup, "live")[0]
        # The same command run where it fails at once: what starting a CLI costs here.
        t0 = time.monotonic()
        unknown = setup.cli.run("terminate", "ffff0000", check=False)
        startup = time.monotonic() - t0
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert unknown.stderr == "auditor: unknown session ID 'ffff0000'\n"

        t0 = time.monotonic()
        out = setup.cli.run("terminate", sid[:8], "--reason", "rm -rf in prod")
        took = time.monotonic() - t0
        assert out.stdout.startswith(f"terminated session {sid[:8]} (")
        assert out.stdout.rstrip().endswith("): rm -rf in prod")
        assert took - startup < 1.0, f"{took:.2f}s, of which starting the CLI {startup:.2f}s"

        eventually(lambda: client.proc.poll() is not None, 5, "the client to exit")
        eventually(lambda: MESSAGE + "rm -rf in prod" in client.stderr(), 2, "the message")
        assert client.proc.returncode == 255
    finally:
        client.stop()

    row = next(r for r in sessions(setup) if r["id"] == sid)
    assert row["status"] == "ended"
    assert (row["terminated_by"], row["termination_reason"]) == (os_user(), "rm -rf in prod")
    [event] = audit_events(setup, "session_terminated")
    assert event["session_id"] == sid
    assert (event["by"], event["reason"]) == (os_user(), "rm -rf in prod")
    assert any(e["session_id"] == sid for e in audit_events(setup, "session_end"))
    records = list(RecordingReader(Path(str(row["recording_path"]))).records())
    events = [r.data.decode() for r in records if r.stream == Stream.EVENT]
    assert events == [f"terminated by {os_user()}: rm -rf in prod"]
    assert b"started\n" in b"".join(r.data for r in records if r.stream == Stream.OUTPUT)

    again = setup.cli.run("terminate", sid, check=False)
    assert again.returncode == 1
    assert again.stderr == f"auditor: session {sid[:8]} is not live: it has already ended\n"


def test_terminate_a_terminal_session_tells_the_user_on_screen(setup: Setup) -> None:
    with ssh_session(setup) as tmux:
        run(tmux, "echo before-terminate", "before-terminate")
        sid = wait_sessions(setup, "live")[0]
        setup.cli.run("terminate", sid)
        screen = tmux.wait_for(MESSAGE + "no reason given", timeout=5)
        assert "before-terminate" in screen
        tmux.wait_for_exit(5)
    row = next(r for r in sessions(setup) if r["id"] == sid)
    assert row["status"] == "ended" and row["termination_reason"] == "no reason given"
    listed = setup.cli.run("sessions").stdout
    assert f"(terminated by {os_user()}: no reason given)" in listed
