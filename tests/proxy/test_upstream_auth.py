"""How the proxy logs in to nodes: a certificate it mints per session (the
default), or the user's forwarded agent (``upstream_auth: agent``).

Real ssh, scp, sftp, rsync, git and sshd; the node's own log is read to see
which certificate it accepted.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from auditor.authority.ca import CLOCK_SKEW, mint_user_certificate
from auditor.proxy.upstream_cert import TTL, client_keys, mint_upstream_certificate
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, Sshd, login_name, require, require_tool
from tests.harness.proxy import ProxyProcess
from tests.proxy.conftest import StartProxy
from tests.proxy.test_one_hop import one_hop, wait_ended

AGENT_WARNING = b"tried agent forwarding"
AGENT_MODE = "auth_service:\n  upstream_auth: agent\n"


def accepted_key_ids(node: Sshd) -> list[str]:
    """The key IDs of the certificates the node's sshd logged in with, one per
    login, from its auth log's ``Accepted publickey`` lines (logged at the
    default LogLevel INFO; the harness's sshd repeats each line)."""
    found = re.findall(
        r"Accepted publickey for \S+ from \S+ port (\d+) ssh2: \S+ \S+ ID (.*) \(serial",
        node.log(),
    )
    return list(dict(found).values())


def run_tool(argv: list[str], client: SshClient, **env: str) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run(
        argv,
        env={**client.env(), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, f"{argv[:2]} exited {out.returncode}: {out.stderr.decode()}"
    assert AGENT_WARNING not in out.stderr, out.stderr.decode()
    return out


# The minted certificate, as a unit


def test_minted_certificate_is_as_narrow_as_the_session() -> None:
    ca = asyncssh.generate_private_key("ssh-ed25519")
    user_key = asyncssh.generate_private_key("ssh-ed25519")
    # The user's certificate: two logins, no pty, a force-command, its own source-address.
    user_cert = ca.generate_user_certificate(
        user_key,
        "auditor:user:joe",
        principals=["root", "joe"],
        permit_pty=False,
        permit_x11_forwarding=False,
        force_command="/usr/bin/true",
        source_address=["192.0.2.0/24"],
    )
    now = time.time()
    issued = mint_upstream_certificate(
        ca, user_cert.options, "joe", "root", "3f2a9c", "proxy-1", ["127.0.0.1/32"], now=now
    )
    cert = issued.cert
    assert cert.principals == ["root"]
    assert cert._key_id == "auditor:user:joe session=3f2a9c proxy=proxy-1"  # type: ignore[attr-defined]
    assert cert.signing_key.public_data == ca.public_data
    assert int(now) - CLOCK_SKEW == cert._valid_after  # type: ignore[attr-defined]
    assert cert._valid_before == int(now) + TTL == issued.valid_before  # type: ignore[attr-defined]
    assert TTL <= 300
    options = dict(cert.options)
    assert [str(a) for a in options.pop("source-address")] == ["127.0.0.1/32"]
    assert options.pop("force-command") == "/usr/bin/true"
    # Only what the user's certificate had: no pty, no X11.
    assert options == {
        "permit-agent-forwarding": True,
        "permit-port-forwarding": True,
        "permit-user-rc": True,
    }
    assert issued.key.public_data != user_key.public_data  # a fresh key
    assert [k.algorithm for k in client_keys(issued)] == [b"ssh-ed25519-cert-v01@openssh.com"]

    # A login certificate grants a pty; the minted one then does too; no
    # source-address unless the proxy has one.
    login = mint_user_certificate(ca, "joe", ["root"], 3600)
    plain = mint_upstream_certificate(ca, login.cert.options, "joe", "root", "s", "p")
    assert "permit-pty" in plain.cert.options
    assert "source-address" not in plain.cert.options
    assert "permit-X11-forwarding" not in plain.cert.options  # login certs lack it


# One hop, certificate mode (the default)


@pytest.fixture
def one_hop_node(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> tuple[Sshd, ProxyProcess]:
    """A node and a proxy in the default mode; the client routed one hop with
    ``ForwardAgent yes``, as `auditor config ssh` wrote it before: scp and sftp
    turn it off themselves, which is the case at hand."""
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port})
    one_hop(ca, agent, ssh_client, proxy, forward_agent=True)
    return node, proxy


def test_scp_sftp_rsync_git_one_hop_without_an_agent_or_a_warning(
    ca: AuditorCli,
    ssh_client: SshClient,
    one_hop_node: tuple[Sshd, ProxyProcess],
    tmp_path: Path,
) -> None:
    node, _proxy = one_hop_node
    config = str(ssh_client.write())
    port = str(node.port)
    target = f"{login_name()}@{NODE}"
    data = b"over one hop, no agent\n" * 1000
    (tmp_path / "up.txt").write_bytes(data)

    # scp (sftp protocol, then legacy scp) and sftp: both turn agent forwarding off.
    scp = require("scp")
    run_tool(
        [scp, "-F", config, "-P", port, str(tmp_path / "up.txt"), f"{target}:{tmp_path}/a.txt"],
        ssh_client,
    )
    run_tool(
        [
            scp,
            "-O",
            "-F",
            config,
            "-P",
            port,
            f"{target}:{tmp_path}/a.txt",
            str(tmp_path / "b.txt"),
        ],
        ssh_client,
    )
    assert (tmp_path / "b.txt").read_bytes() == data
    batch = tmp_path / "batch"
    batch.write_text(f"put {tmp_path}/up.txt {tmp_path}/c.txt\n")
    run_tool([require("sftp"), "-F", config, "-P", port, "-b", str(batch), target], ssh_client)
    assert (tmp_path / "c.txt").read_bytes() == data

    # rsync and git run plain ssh, here told not to forward an agent.
    ssh = f"{require('ssh')} -F {config} -p {port} -o ForwardAgent=no"
    rsync = require_tool("rsync", "rsync")
    run_tool(
        [rsync, "-a", "-e", ssh, f"{tmp_path}/up.txt", f"{target}:{tmp_path}/d.txt"], ssh_client
    )
    assert (tmp_path / "d.txt").read_bytes() == data
    git = require_tool("git", "git")
    env = {
        "GIT_SSH_COMMAND": ssh,
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    bare = tmp_path / "repo.git"
    run_tool([git, "init", "-q", "--bare", "-b", "main", str(bare)], ssh_client, **env)
    run_tool(
        [git, "clone", "-q", f"ssh://{target}:{port}{bare}", str(tmp_path / "clone")],
        ssh_client,
        **env,
    )
    assert (tmp_path / "clone" / ".git").is_dir()

    rows = wait_ended(ca, 5)  # scp twice, sftp, rsync, git clone
    assert len(rows) == 5
    # Every login on the node was with a certificate the proxy minted.
    ids = accepted_key_ids(node)
    assert len(ids) == 5
    assert all(i.startswith(f"auditor:user:{login_name()} session=") for i in ids), ids


def test_the_node_log_line_names_the_session_it_recorded(
    ca: AuditorCli,
    ssh_client: SshClient,
    one_hop_node: tuple[Sshd, ProxyProcess],
) -> None:
    node, _proxy = one_hop_node
    out = ssh_client.run(
        "-o", "ForwardAgent=no", "-p", str(node.port), f"{login_name()}@{NODE}", "echo logged"
    )
    assert out.returncode == 0, out.stderr.decode()
    assert AGENT_WARNING not in out.stderr
    line = next(line for line in node.log().splitlines() if "Accepted publickey" in line)
    # sshd: Accepted publickey for root from 127.0.0.1 port N ssh2: ED25519-CERT SHA256:...
    #       ID auditor:user:joe session=ID proxy=HOST (serial 0) CA ED25519 SHA256:...
    found = re.search(r"ID auditor:user:(\S+) session=([0-9a-f]+) proxy=(\S+) \(serial", line)
    assert found, line
    assert found.group(1) == login_name()
    session_id = found.group(2)
    # The line leads to the recording: replay the session it names.
    text = ca.run("replay", session_id, "--format", "text").stdout
    assert text == "logged\n"
    rows = json.loads(ca.run("sessions", "--json").stdout)
    assert [r["command"] for r in rows if r["id"] == session_id] == ["echo logged"]


def test_an_agent_reaches_the_node_only_when_the_client_forwards_it(
    ca: AuditorCli,
    agent: SshAgent,
    ssh_client: SshClient,
    one_hop_node: tuple[Sshd, ProxyProcess],
) -> None:
    node, _proxy = one_hop_node
    target = f"{login_name()}@{NODE}"
    off = ssh_client.run(
        "-o", "ForwardAgent=no", "-p", str(node.port), target, "echo sock=${SSH_AUTH_SOCK:-none}"
    )
    assert off.returncode == 0, off.stderr.decode()
    assert off.stdout == b"sock=none\n"
    assert AGENT_WARNING not in off.stderr
    on = ssh_client.run("-A", "-p", str(node.port), target, "ssh-add -L")
    assert on.returncode == 0, on.stderr.decode()
    assert agent.identities().strip() and on.stdout.decode().strip() == agent.identities().strip()


def test_auditor_ssh_forwards_no_agent_in_certificate_mode(
    ca: AuditorCli, agent: SshAgent, one_hop_node: tuple[Sshd, ProxyProcess]
) -> None:
    node, proxy = one_hop_node
    cli = AuditorCli(ca.data_dir, config=proxy.config_path, env=dict(agent.env))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "ssh",
            "-p",
            str(node.port),
            "-o",
            "BatchMode=yes",
            f"{login_name()}@{NODE}",
            "echo sock=${SSH_AUTH_SOCK:-none}",
        ],
        env=cli.environ(),
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"sock=none\n"
    assert AGENT_WARNING not in out.stderr


# source-address


def test_source_address_is_enforced_by_the_node(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    elsewhere = start_proxy(
        nodes={NODE: node.port}, proxy_options="  upstream_source_addresses: [192.0.2.7]\n"
    )
    one_hop(ca, agent, ssh_client, elsewhere, forward_agent=False)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo no")
    assert out.returncode == 255
    assert b"refused the certificate" in out.stderr, out.stderr.decode()
    assert "not from a permitted source address" in node.log()
    assert not accepted_key_ids(node)
    rows = eventually(
        lambda: json.loads(ca.run("failures", "--kind", "node_auth_failed", "--json").stdout),
        what="the node_auth_failed row",
    )
    assert "upstream_source_addresses" in str(rows[0]["hint"])

    here = start_proxy(
        nodes={NODE: node.port},
        proxy_options="  upstream_source_addresses: [127.0.0.1/32, '::1']\n",
    )
    one_hop(ca, agent, ssh_client, here, forward_agent=False)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo yes")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"yes\n"
    assert len(accepted_key_ids(node)) == 1


# Nested, certificate mode


def test_nested_path_needs_no_agent_forwarding(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port})
    ca.env.update(agent.env)
    ca.run("login", f"--user={login_name()}")
    proxy.route(ssh_client, agent=False)
    out = ssh_client.run(
        "-o", "ForwardAgent=no", "-p", str(node.port), f"{login_name()}@{NODE}", "echo nested"
    )
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"nested\n"
    assert AGENT_WARNING not in out.stderr
    ids = accepted_key_ids(node)
    assert len(ids) == 1 and " session=" in ids[0]
    row = eventually(lambda: wait_ended(ca), what="the ended session")[0]
    assert f"session={row['id']} " in ids[0]


# Agent mode: today's behaviour


def test_agent_mode_logs_in_with_the_users_own_certificate(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy(AGENT_MODE, nodes={NODE: node.port})
    one_hop(ca, agent, ssh_client, proxy, forward_agent=True)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo agent-mode")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"agent-mode\n"
    assert accepted_key_ids(node) == [f"auditor:user:{login_name()}"]

    # Without the agent the old refusal, word for word, and its failure kind.
    one_hop(ca, agent, ssh_client, proxy, forward_agent=False)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    assert b"the recording proxy needs your agent" in out.stderr
    kinds = [r["kind"] for r in json.loads(ca.run("failures", "--json").stdout)]
    assert "agent_not_forwarded" in kinds
