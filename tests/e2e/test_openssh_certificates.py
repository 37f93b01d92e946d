"""Issue 2: real ssh to real sshd with auditor's certificates, no proxy yet."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from auditor.authority.ca import load_authority, mint_user_certificate
from auditor.datadir import write_private_file
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, login_name


def login(cli: AuditorCli, agent: SshAgent, *extra: str) -> None:
    cli.env.update(agent.env)
    cli.run("login", f"--user={login_name()}", *extra)


def test_login_certificate_opens_a_session_and_node_is_verified_by_host_cert(
    ca: AuditorCli, agent: SshAgent, start_node: StartNode, ssh_client: SshClient
) -> None:
    node = start_node()
    login(ca, agent)
    assert f"auditor:{login_name()}" in agent.identities()
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    out = ssh_client.run(f"{login_name()}@{NODE}", "echo hello-from-$(hostname)-as-$(whoami)")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout.decode().startswith("hello-from-")
    assert out.stdout.decode().strip().endswith(f"-as-{login_name()}")
    # sshd accepted the certificate, not some other key.
    assert "Accepted publickey" in node.log() and "ED25519-CERT" in node.log()


def test_user_certificate_from_another_ca_is_refused(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    tmp_path: Path,
) -> None:
    node = start_node()
    stranger = AuditorCli(tmp_path / "other-ca")
    stranger.run("ca", "init")
    login(stranger, agent)
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    out = ssh_client.run(f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    assert b"Permission denied" in out.stderr


def test_expired_user_certificate_is_refused(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    tmp_path: Path,
) -> None:
    node = start_node()
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    # `auditor login` gives the agent a lifetime, so the agent would forget
    # an expired certificate; add one with plain ssh-add to offer it anyway.
    user_ca = load_authority(ca.data_dir, "user")
    issued = mint_user_certificate(user_ca, "joe", [login_name()], ttl=2)
    key = tmp_path / "id_ed25519"
    write_private_file(key, issued.key.export_private_key("openssh"))
    (tmp_path / "id_ed25519-cert.pub").write_bytes(issued.cert.export_certificate())
    subprocess.run(["ssh-add", str(key)], env={**agent.env}, check=True, capture_output=True)
    ok = ssh_client.run(f"{login_name()}@{NODE}", "true")
    assert ok.returncode == 0, ok.stderr.decode()
    time.sleep(max(0.0, issued.valid_before - time.time()) + 1.1)
    assert "cert-v01" in agent.identities()
    out = ssh_client.run(f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    assert b"Permission denied" in out.stderr
    assert "expired" in node.log()


def test_host_certificate_for_another_name_is_refused(
    ca: AuditorCli, agent: SshAgent, start_node: StartNode, ssh_client: SshClient
) -> None:
    node = start_node(cert_for="other.example.com")
    login(ca, agent)
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    out = ssh_client.run(f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    err = out.stderr.decode()
    assert "Host key verification failed" in err, err


def test_node_without_host_certificate_is_not_trusted(
    ca: AuditorCli, agent: SshAgent, start_node: StartNode, ssh_client: SshClient
) -> None:
    node = start_node(cert=False)
    login(ca, agent)
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    out = ssh_client.run(f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    assert b"Host key verification failed" in out.stderr


def test_login_not_among_principals_is_refused(
    ca: AuditorCli, agent: SshAgent, start_node: StartNode, ssh_client: SshClient
) -> None:
    node = start_node()
    login(ca, agent)
    ssh_client.hosts[NODE] = ("127.0.0.1", node.port)
    other = "daemon" if login_name() != "daemon" else "nobody"
    out = ssh_client.run(f"{other}@{NODE}", "true")
    assert out.returncode == 255
    assert b"Permission denied" in out.stderr
    assert "Certificate invalid: name is not a listed principal" in node.log(), node.log()
