"""The shared index goes away mid-run: new sessions are refused with one clear
line (none goes unrecorded), a live one carries on, and what happened to it
while the database was away reaches the index once it is back."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.harness.postgres import MissingPostgres, PostgresServer
from tests.proxy.conftest import StartProxy, login_and_route


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started again."""
    try:
        server = PostgresServer.start()
    except MissingPostgres as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


def test_database_away_refuses_new_sessions_and_keeps_live_ones(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    own_postgres: PostgresServer,
) -> None:
    uri = own_postgres.uri()
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port}, config=f"storage:\n  audit_events_uri: {uri}\n")
    login_and_route(ca, agent, proxy, ssh_client)
    target = ("-p", str(node.port), f"{login_name()}@{NODE}")
    shared = AuditorCli(ca.data_dir, config=proxy.config_path)

    live = subprocess.Popen(
        ssh_client.argv(*target, "cat"),
        env=ssh_client.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert live.stdin is not None and live.stdout is not None
    live.stdin.write(b"before the outage\n")
    live.stdin.flush()
    assert live.stdout.readline() == b"before the outage\n"

    own_postgres.pause()
    refused = ssh_client.run(*target, "echo should-not-run")
    assert refused.returncode == 255
    assert refused.stdout == b""
    message = refused.stderr.decode()
    assert "the audit index is unreachable" in message, message
    assert "so that none goes unrecorded" in message, message
    assert "storage.audit_events_uri" in message, message

    # The session under way goes on.
    live.stdin.write(b"during the outage\n")
    live.stdin.flush()
    assert live.stdout.readline() == b"during the outage\n"

    own_postgres.resume()
    live.stdin.close()
    assert live.wait(30) == 0

    def ended() -> list[dict[str, object]]:
        rows = json.loads(shared.run("sessions", "--json").stdout)
        return [r for r in rows if r["command"] == "cat" and r["status"] == "ended"]

    row = eventually(ended, timeout=30, what="the session's end, written once the index is back")
    assert row[0]["exit_status"] == 0
    # Nothing of the refused session reached the index; new sessions work again.
    rows = json.loads(shared.run("sessions", "--json").stdout)
    assert [r for r in rows if r["command"] == "echo should-not-run"] == []
    out = eventually(
        lambda: ssh_client.run(*target, "echo back-again").stdout,
        timeout=20,
        what="a new session accepted once the index is back",
    )
    assert out == b"back-again\n"
    audit = (ca.data_dir / "audit.log").read_text()
    assert '"session_refused"' in audit, audit[-2000:]
