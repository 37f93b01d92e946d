"""A MaxStartups storm at a node never reaches the users whose sessions start during it."""

from __future__ import annotations

import json
import socket
import subprocess
import time

import pytest

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name, turned_away
from tests.proxy.conftest import StartProxy, login_and_route

# Past one unauthenticated connection sshd drops every new one.
MAXSTARTUPS = {"MaxStartups": "1:100:1", "LoginGraceTime": "60"}
SESSIONS = 10


@pytest.mark.parametrize("storm", [1.0, 3.0])
def test_every_session_started_during_a_maxstartups_storm_survives(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    storm: float,
) -> None:
    node = start_node(extra=MAXSTARTUPS)
    proxy = start_proxy(nodes={NODE: node.port})  # default dial_timeout and dial_attempts
    login_and_route(ca, agent, proxy, ssh_client)
    ssh_client.write()
    held = [socket.create_connection(("127.0.0.1", node.port)) for _ in range(3)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        eventually(lambda: turned_away(node.port), what="sshd to drop past MaxStartups")
        storm_began = time.monotonic()
        for i in range(SESSIONS):
            argv = ssh_client.argv("-p", str(node.port), f"{login_name()}@{NODE}", f"echo s{i}")
            procs.append(
                subprocess.Popen(
                    argv,
                    env=ssh_client.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        time.sleep(max(0.0, storm - (time.monotonic() - storm_began)))  # the storm itself
    finally:
        for s in held:
            s.close()
    results = [p.communicate(timeout=60) for p in procs]
    for i, (p, (out, err)) in enumerate(zip(procs, results, strict=True)):
        assert (p.returncode, out) == (0, f"s{i}\n".encode()), err.decode()
    rows = eventually(
        lambda: json.loads(ca.run("failures", "--kind", "maxstartups", "--json").stdout),
        what="the dropped dials in the index",
    )
    assert all("succeeded after" in r["message"] and r["retries"] >= 1 for r in rows), rows
    ended = eventually(
        lambda: [
            r for r in json.loads(ca.run("sessions", "--json").stdout) if r["status"] == "ended"
        ][SESSIONS - 1 :],
        what=f"{SESSIONS} ended sessions",
    )
    assert ended


def test_a_storm_longer_than_dial_timeout_gives_up_at_the_deadline(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node(extra=MAXSTARTUPS)
    proxy = start_proxy(nodes={NODE: node.port}, proxy_options="  dial_timeout: 2s\n")
    login_and_route(ca, agent, proxy, ssh_client)
    held = socket.create_connection(("127.0.0.1", node.port))
    try:
        eventually(lambda: turned_away(node.port), what="sshd to drop past MaxStartups")
        out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "true")
    finally:
        held.close()
    assert out.returncode == 255
    err = out.stderr.decode()
    assert "MaxStartups exceeded; gave up after" in err, err
    spent = float(err.split(" retries in ")[1].split("s)")[0])
    assert 2.0 <= spent < 3.0, err  # retried until the deadline, not past it
    [row] = json.loads(ca.run("failures", "--kind", "maxstartups", "--json").stdout)
    assert row["retries"] >= 2


def test_node_mode_rides_out_a_storm_and_indexes_the_drops_too(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node(extra=MAXSTARTUPS)
    proxy = start_proxy("auth_service:\n  session_recording: node\n", nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    held = socket.create_connection(("127.0.0.1", node.port))
    try:
        eventually(lambda: turned_away(node.port), what="sshd to drop past MaxStartups")
        proc = subprocess.Popen(
            ssh_client.argv("-p", str(node.port), f"{login_name()}@{NODE}", "echo piped"),
            env=ssh_client.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        eventually(lambda: "dropped (Exceeded MaxStartups" in proxy.log(), what="a dropped dial")
    finally:
        held.close()
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, b"piped\n"), err.decode()
    [row] = eventually(
        lambda: json.loads(ca.run("failures", "--kind", "maxstartups", "--json").stdout),
        what="the dropped dial in the index",
    )
    assert "succeeded after" in row["message"] and row["retries"] >= 1
