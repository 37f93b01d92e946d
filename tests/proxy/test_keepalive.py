"""Keepalives are answered on every hop, so idle sessions outlive both sides' limits."""

from __future__ import annotations

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.proxy.conftest import StartProxy, login_and_route

IDLE = 10  # seconds: five missed keepalives' worth on either side


def test_an_idle_session_survives_server_and_client_alive_checks(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    # sshd probes every second and gives up after two unanswered probes...
    node = start_node(extra={"ClientAliveInterval": "1", "ClientAliveCountMax": "2"})
    proxy = start_proxy(nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    # ...and so does every ssh on the user's side: the client and the ProxyCommand's.
    ssh_client.extra_config += ["Host *", "    ServerAliveInterval 1", "    ServerAliveCountMax 2"]
    out = ssh_client.run(
        "-p", str(node.port), f"{login_name()}@{NODE}", f"sleep {IDLE}; echo survived", timeout=60
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"survived\n"
    assert "Timeout" not in out.stderr.decode()
