"""Exec through the recording proxy with real ssh, ssh-agent and sshd."""

from __future__ import annotations

import hashlib
import json
import os
import time

from tests.proxy.conftest import Setup


def sessions(setup: Setup) -> list[dict[str, object]]:
    out = setup.cli.run("sessions", "--json").stdout
    return list(json.loads(out))


def wait_for(predicate, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_exec_exit_status_and_output_are_passed_back_and_recorded(setup: Setup) -> None:
    code, out, err = setup.ssh(setup.target(), "echo through-the-proxy; echo oops >&2; exit 7")
    assert code == 7, err.decode()
    assert out == b"through-the-proxy\n"
    assert b"oops" in err
    rows = wait_for(lambda: [s for s in sessions(setup) if s.get("status") == "ended"])
    assert rows, sessions(setup)
    row = rows[0]
    assert row["exit_status"] == 7
    assert row["node"] == "node.example.com"
    assert row["command"] == "echo through-the-proxy; echo oops >&2; exit 7"
    text = setup.cli.run("export", str(row["id"]), "--format", "text").stdout
    assert "through-the-proxy" in text
    audit = (setup.cli.data_dir / "audit.log").read_text().splitlines()
    events = [json.loads(line)["event"] for line in audit]
    assert "session_start" in events and "exec" in events and "session_end" in events


def test_bulk_random_bytes_both_ways_are_byte_exact(setup: Setup, tmp_path) -> None:  # type: ignore[no-untyped-def]
    blob = os.urandom(50 * 1024 * 1024)
    digest = hashlib.sha256(blob).hexdigest()
    code, out, err = setup.ssh(setup.target(), "sha256sum", input=blob, timeout=120)
    assert code == 0, err.decode()
    assert out.split()[0].decode() == digest
    src = tmp_path / "blob"
    src.write_bytes(blob)
    code, out, err = setup.ssh(setup.target(), f"cat {src}", timeout=120)
    assert code == 0, err.decode()
    assert hashlib.sha256(out).hexdigest() == digest


def test_environment_is_passed_to_the_node(setup: Setup) -> None:
    code, out, err = setup.ssh(
        "-o",
        "SetEnv=AUDITOR_TEST_GREETING=hello-env",
        setup.target(),
        "echo $AUDITOR_TEST_GREETING",
    )
    assert code == 0, err.decode()
    assert out == b"hello-env\n"


def test_exit_signal_is_passed_back_and_recorded(setup: Setup) -> None:
    code, _, _ = setup.ssh(setup.target(), "kill -TERM $$")
    assert code == 255  # OpenSSH's status for a remote command killed by a signal
    rows = wait_for(lambda: [s for s in sessions(setup) if s.get("status") == "ended"])
    assert rows[0]["exit_signal"] == "TERM"
    assert rows[0]["exit_status"] is None
