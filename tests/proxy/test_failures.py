"""Every failure kind (DESIGN §7), provoked for real, reaches the client and the index."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from auditor.proxy.failures import HOST_CERT_MISSING
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, free_port, login_name
from tests.proxy.conftest import StartProxy, login_and_route


def failures(cli: AuditorCli, kind: str) -> list[dict[str, object]]:
    rows = json.loads(cli.run("failures", "--kind", kind, "--json").stdout)
    return [r for r in rows if r["kind"] == kind]


def wait_failure(cli: AuditorCli, kind: str, timeout: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = failures(cli, kind)
        if rows:
            return rows[0]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} failure recorded; all: {cli.run('failures', '--json').stdout}")


# The proxy logs in to nodes with the certificate in the user's forwarded
# agent (the reference's way); the agent failures are this mode's.
AGENT_MODE = "auth_service:\n  upstream_auth: agent\n"


def through_proxy(
    ca: AuditorCli,
    agent: SshAgent,
    client: SshClient,
    start_proxy: StartProxy,
    node_port: int,
    config: str = "",
    agent_fwd: bool = True,
    login: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    proxy = start_proxy(config, nodes={NODE: node_port})
    if login:
        ca.env.update(agent.env)
        ca.run("login", f"--user={login_name()}")
    proxy.route(client, agent=agent_fwd)
    return client.run("-p", str(node_port), f"{login_name()}@{NODE}", "echo reached")


@pytest.mark.parametrize(
    ("node_kwargs", "kind", "message"),
    [
        (
            {"cert": False},
            "host_cert_missing",
            HOST_CERT_MISSING,
        ),
        (
            {"cert_for": "other.example.com"},
            "host_principal_mismatch",
            "is not valid for node.example.com",
        ),
        ({"ttl": "1s"}, "host_cert_expired", "has expired"),
        ({"trust_users": False}, "node_auth_failed", "refused the certificate for login"),
    ],
)
def test_node_host_and_auth_failures(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    node_kwargs: dict[str, object],
    kind: str,
    message: str,
) -> None:
    node = start_node(**node_kwargs)
    if "ttl" in node_kwargs:
        time.sleep(2.2)
    out = through_proxy(ca, agent, ssh_client, start_proxy, node.port)
    assert out.returncode == 255
    assert message in out.stderr.decode(), out.stderr.decode()
    row = wait_failure(ca, kind)
    assert message in str(row["message"])
    assert row["hint"]
    assert row["node"] == NODE


def test_host_certificate_from_another_ca(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    stranger = AuditorCli(tmp_path / "stranger")
    stranger.run("ca", "init")
    node = start_node(signer=stranger)
    out = through_proxy(ca, agent, ssh_client, start_proxy, node.port)
    assert out.returncode == 255
    assert "signed by an untrusted authority" in out.stderr.decode()
    wait_failure(ca, "host_cert_untrusted")


def test_plain_host_key_accepted_when_checks_are_off(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node(cert=False)
    out = through_proxy(
        ca,
        agent,
        ssh_client,
        start_proxy,
        node.port,
        "auth_service:\n  proxy_checks_host_keys: no\n",
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"reached\n"


def test_agent_not_forwarded(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    out = through_proxy(ca, agent, ssh_client, start_proxy, node.port, AGENT_MODE, agent_fwd=False)
    assert out.returncode == 255
    assert "ForwardAgent yes" in out.stderr.decode()
    wait_failure(ca, "agent_not_forwarded")


def test_agent_without_certificate(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    # The proxy hop authenticates from one agent but forwards another that
    # holds only a plain key: the proxy cannot reach the node.
    node = start_node()
    proxy = start_proxy(AGENT_MODE, nodes={NODE: node.port})
    ca.env.update(agent.env)
    ca.run("login", f"--user={login_name()}")
    (tmp_path / "plain").mkdir()
    plain_agent = SshAgent.start(tmp_path / "plain")
    try:
        key = tmp_path / "plain" / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        subprocess.run(
            ["ssh-add", str(key)], env={**plain_agent.env}, check=True, capture_output=True
        )
        proxy.route(ssh_client)
        ssh_client.extra_config[-1] = ssh_client.extra_config[-1].replace(
            "-o 'ForwardAgent yes'", f"-o 'ForwardAgent {plain_agent.sock}'"
        )
        out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "true")
    finally:
        plain_agent.stop()
    assert out.returncode == 255
    assert "holds no certificate" in out.stderr.decode()
    wait_failure(ca, "agent_no_certificate")


def test_user_certificate_from_another_ca(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node()
    stranger = AuditorCli(tmp_path / "stranger", env=dict(agent.env))
    stranger.run("ca", "init")
    stranger.run("login", f"--user={login_name()}")
    out = through_proxy(ca, agent, ssh_client, start_proxy, node.port, login=False)
    assert out.returncode == 255
    assert b"Permission denied" in out.stderr
    row = wait_failure(ca, "user_auth_failed")
    assert "unknown CA" in str(row["message"])


def test_login_not_allowed_for_user(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node()
    issuing = tmp_path / "issuing.yaml"
    issuing.write_text(f"users:\n  alice: {{logins: [{login_name()}, daemon]}}\n")
    ca.config = issuing
    ca.env.update(agent.env)
    ca.run("login", "--user=alice")
    out = through_proxy(
        ca,
        agent,
        ssh_client,
        start_proxy,
        node.port,
        "users:\n  alice: {logins: [daemon]}\n",
        login=False,
    )
    assert out.returncode == 255
    assert f"login '{login_name()}' is not allowed for user 'alice'" in out.stderr.decode()
    row = wait_failure(ca, "login_denied")
    assert row["user"] == "alice"


def test_node_unreachable(
    ca: AuditorCli, agent: SshAgent, ssh_client: SshClient, start_proxy: StartProxy
) -> None:
    port = free_port()
    out = through_proxy(ca, agent, ssh_client, start_proxy, port)
    assert out.returncode == 255
    # One line in auditor's words: OpenSSH adds `connect failed:` itself, and
    # asyncio's `Connect call failed ('127.0.0.1', N)` is no reason to show.
    stderr = out.stderr.decode()
    line = f"connect failed: cannot reach {NODE} at 127.0.0.1:{port}: Connection refused"
    assert line in stderr
    assert "connect failed: connect failed" not in stderr and "Connect call" not in stderr
    row = wait_failure(ca, "node_unreachable")
    assert row["message"] == line.removeprefix("connect failed: ")


@pytest.mark.parametrize(
    ("subsystem", "kind", "message"),
    [
        ("proxy:node.example.com:notaport", "bad_request", "expected proxy:HOST:PORT"),
        ("sftp", "bad_request", "expected proxy:HOST:PORT"),
        ("proxy:node.example.com:22@nowhere", "unknown_cluster", "unknown cluster 'nowhere'"),
    ],
)
def test_bad_requests(
    ca: AuditorCli,
    agent: SshAgent,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    subsystem: str,
    kind: str,
    message: str,
) -> None:
    proxy = start_proxy()
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run(
        "-o",
        "ForwardAgent yes",
        "-p",
        str(proxy.port),
        f"{login_name()}@proxy.example.com",
        "-s",
        subsystem,
    )
    assert out.returncode != 0
    assert message in out.stderr.decode(), out.stderr.decode()
    wait_failure(ca, kind)


def test_garbage_half_open_and_slow_clients_do_not_stop_real_logins(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy(
        proxy_options="  max_unauthenticated: 3\n  login_grace_time: 30s\n", nodes={NODE: node.port}
    )
    login_and_route(ca, agent, proxy, ssh_client)
    garbage = socket.create_connection(("127.0.0.1", proxy.port))
    garbage.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
    row = wait_failure(ca, "protocol_error")
    assert "Unsupported SSH version" in str(row["message"])
    garbage.close()
    hostile: list[socket.socket] = []
    try:
        for _ in range(6):  # half-open: connect and say nothing
            hostile.append(socket.create_connection(("127.0.0.1", proxy.port)))
        slow = socket.create_connection(("127.0.0.1", proxy.port))
        slow.sendall(b"SSH-2.0-")  # a client that never finishes its version line
        hostile.append(slow)
        time.sleep(0.3)
        for _ in range(3):
            out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo reached")
            assert out.returncode == 0, out.stderr.decode()
            assert out.stdout == b"reached\n"
    finally:
        for s in hostile:
            s.close()
