"""The recording proxy writes the shared index the config names (PostgreSQL)."""

from __future__ import annotations

import json
import time

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.proxy.conftest import StartProxy, login_and_route


def test_sessions_failures_and_text_go_to_postgresql(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    postgres_uri: str,
) -> None:
    node = start_node()
    storage = f"storage:\n  audit_events_uri: {postgres_uri}\n"
    proxy = start_proxy(nodes={NODE: node.port}, config=storage)
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo into-postgres")
    assert out.returncode == 0 and out.stdout == b"into-postgres\n", out.stderr
    ssh_client.run("-p", str(node.port), f"{login_name()}@nowhere.example.com", "true")

    pg = AuditorCli(ca.data_dir, config=proxy.config_path)
    deadline = time.monotonic() + 20
    hits: list[dict[str, object]] = []
    while not hits and time.monotonic() < deadline:
        hits = json.loads(pg.run("sessions", "--search", "into-postgres", "--json").stdout)
        time.sleep(0.2)
    assert [h["command"] for h in hits] == ["echo into-postgres"]
    assert json.loads(pg.run("failures", "--json").stdout)
    # The data directory's own SQLite index got none of it.
    assert json.loads(AuditorCli(ca.data_dir).run("sessions", "--json").stdout) == []
