"""The one-hop path: `auditor connect` as ProxyCommand with fd passing, real ssh and sshd."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from auditor import preamble
from auditor.recording import RecordingReader, Stream
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, login_name, require
from tests.harness.proxy import ProxyProcess
from tests.proxy.conftest import StartProxy

CONNECT = f"{sys.executable} -m auditor connect"


def route_one_hop(proxy: ProxyProcess, client: SshClient, agent: bool = True) -> None:
    """What `auditor config ssh` writes, for this proxy."""
    client.extra_config = [
        "Host *.example.com",
        f"    ProxyCommand {CONNECT} --proxy 127.0.0.1:{proxy.port} %h:%p",
        "    ProxyUseFdpass yes",
        f"    ForwardAgent {'yes' if agent else 'no'}",
    ]


def one_hop(
    ca: AuditorCli,
    agent: SshAgent,
    client: SshClient,
    proxy: ProxyProcess,
    forward_agent: bool = True,
) -> None:
    ca.env.update(agent.env)
    ca.run("login", f"--user={login_name()}")
    route_one_hop(proxy, client, forward_agent)


def sessions(cli: AuditorCli) -> list[dict[str, object]]:
    return list(json.loads(cli.run("sessions", "--json").stdout))


def wait_ended(cli: AuditorCli, n: int = 1, timeout: float = 15) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = [r for r in sessions(cli) if r["status"] == "ended"]
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def failures(cli: AuditorCli, kind: str, timeout: float = 10) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        rows = list(json.loads(cli.run("failures", "--kind", kind, "--json").stdout))
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


@pytest.fixture
def node_and_proxy(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> tuple[int, ProxyProcess]:
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port})
    one_hop(ca, agent, ssh_client, proxy)
    return node.port, proxy


def test_exec_with_its_exit_status_recorded_over_one_hop(
    ca: AuditorCli, ssh_client: SshClient, node_and_proxy: tuple[int, ProxyProcess]
) -> None:
    port, _proxy = node_and_proxy
    out = ssh_client.run("-p", str(port), f"{login_name()}@{NODE}", "echo one-hop; exit 3")
    assert (out.returncode, out.stdout) == (3, b"one-hop\n"), out.stderr
    rows = wait_ended(ca)
    assert rows[0]["command"] == "echo one-hop; exit 3" and rows[0]["exit_status"] == 3
    assert rows[0]["user"] == login_name() and rows[0]["node"] == NODE
    text = ca.run("replay", str(rows[0]["id"]), "--format", "text").stdout
    assert text == "one-hop\n"


def test_50_mb_up_and_down_arrive_whole_and_are_recorded(
    ca: AuditorCli,
    ssh_client: SshClient,
    node_and_proxy: tuple[int, ProxyProcess],
    tmp_path: Path,
) -> None:
    port, _proxy = node_and_proxy
    payload = os.urandom(1 << 20) * 50
    digest = hashlib.sha256(payload).hexdigest()
    target = tmp_path / "upload.bin"
    up = ssh_client.run(
        "-p",
        str(port),
        f"{login_name()}@{NODE}",
        f"cat > {target}; sha256sum {target}",
        input=payload,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    assert up.stdout.split()[0].decode() == digest
    down = ssh_client.run("-p", str(port), f"{login_name()}@{NODE}", f"cat {target}", timeout=120)
    assert hashlib.sha256(down.stdout).hexdigest() == digest
    rows = wait_ended(ca, 2)
    row = next(r for r in rows if str(r["command"]).startswith("cat "))
    reader = RecordingReader(Path(str(row["recording_path"])))
    recorded = hashlib.sha256()
    for record in reader.records():
        if record.stream == Stream.OUTPUT:
            recorded.update(record.data)
    assert recorded.hexdigest() == digest


def test_pty_session_sftp_and_a_local_forward(
    ca: AuditorCli,
    ssh_client: SshClient,
    node_and_proxy: tuple[int, ProxyProcess],
    tmp_path: Path,
) -> None:
    port, _proxy = node_and_proxy
    target = f"{login_name()}@{NODE}"
    pty = ssh_client.run("-tt", "-p", str(port), target, "tty; echo pty-ok", input=b"")
    assert pty.returncode == 0 and b"/dev/pts/" in pty.stdout and b"pty-ok" in pty.stdout

    source = tmp_path / "put.txt"
    source.write_text("over sftp\n")
    batch = tmp_path / "batch"
    batch.write_text(f"put {source} {tmp_path}/got.txt\n")
    # sftp turns agent forwarding off; the proxy mints its own certificate for the node.
    sftp = subprocess.run(
        [
            require("sftp"),
            "-F",
            str(ssh_client.config_path),
            "-P",
            str(port),
            "-b",
            str(batch),
            target,
        ],
        env=ssh_client.env(),
        capture_output=True,
        timeout=60,
    )
    assert sftp.returncode == 0, sftp.stderr
    assert (tmp_path / "got.txt").read_text() == "over sftp\n"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    forward = subprocess.Popen(
        ssh_client.argv("-N", "-L", f"{local}:127.0.0.1:{port}", "-p", str(port), target),
        env=ssh_client.env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        banner = b""
        while time.monotonic() < deadline and not banner:
            try:
                with socket.create_connection(("127.0.0.1", local), timeout=5) as c:
                    banner = c.recv(64)
            except OSError:
                time.sleep(0.2)
        assert banner.startswith(b"SSH-2.0-OpenSSH")  # the node's sshd, through -L
    finally:
        forward.terminate()
        forward.wait(10)


def test_refusals_say_what_the_nested_path_says(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    plain = start_node("plain.example.com", cert=False)
    proxy = start_proxy(nodes={"plain.example.com": plain.port})
    one_hop(ca, agent, ssh_client, proxy)
    out = ssh_client.run("-p", str(plain.port), f"{login_name()}@plain.example.com", "true")
    assert out.returncode == 255
    assert b"remote host presented a public key, expected a host certificate" in out.stderr
    assert failures(ca, "host_cert_missing")

    # With upstream_auth: agent, the agent is needed and its absence is named first.
    agent_mode = start_proxy(
        "auth_service:\n  upstream_auth: agent\n", nodes={"plain.example.com": plain.port}
    )
    route_one_hop(agent_mode, ssh_client, agent=False)
    out = ssh_client.run("-p", str(plain.port), f"{login_name()}@plain.example.com", "true")
    assert out.returncode == 255
    assert b"the recording proxy needs your agent" in out.stderr
    assert failures(ca, "agent_not_forwarded")


def test_garbage_an_unfinished_preamble_and_a_nested_only_proxy(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port}, proxy_options="  login_grace_time: 1s\n")
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(preamble.MAGIC + b"proxy:node.example.com:22")  # no end of line
        s.settimeout(10)
        start = time.monotonic()
        assert s.recv(100) == b""  # evicted by the grace time
        assert time.monotonic() - start < 5
    rows = failures(ca, "protocol_error")
    assert any("grace time" in str(r["message"]) for r in rows)
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(preamble.MAGIC + b"proxy:not a host\n")
        s.settimeout(10)
        assert s.recv(200).startswith(b"ERR bad request")
    assert failures(ca, "bad_request")

    nested_only = start_proxy(
        nodes={NODE: node.port}, proxy_options="  one_hop: false\n", data_dir=ca.data_dir
    )
    one_hop(ca, agent, ssh_client, nested_only)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "true")
    assert out.returncode == 255
    assert b"auditor: this proxy takes the nested path only" in out.stderr


def test_auditor_ssh_runs_openssh_one_hop_with_its_options(
    ca: AuditorCli, agent: SshAgent, node_and_proxy: tuple[int, ProxyProcess]
) -> None:
    port, proxy = node_and_proxy
    cli = AuditorCli(ca.data_dir, config=proxy.config_path, env=dict(agent.env))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "auditor",
            "ssh",
            "-p",
            str(port),
            "-t",
            "-o",
            "BatchMode=yes",
            f"{login_name()}@{NODE}",
            "tty; exit 4",
        ],
        env=cli.environ(),
        capture_output=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 4, out.stderr
    rows = wait_ended(ca)
    assert rows[0]["command"] == "tty; exit 4" and rows[0]["node"] == NODE


def test_connect_errors_are_one_line_and_ssh_exits_255(
    ca: AuditorCli, node_and_proxy: tuple[int, ProxyProcess]
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for args, message in [
        (["--proxy", f"127.0.0.1:{closed}", "node.example.com:22"], "cannot reach the proxy"),
        (["node.example.com:22"], "which proxy?"),
        (["--proxy", "127.0.0.1:1", "nonsense"], "target: expected HOST:PORT"),
    ]:
        env = {k: v for k, v in os.environ.items() if k != "AUDITOR_PROXY"}
        out = subprocess.run(
            [sys.executable, "-m", "auditor", "connect", *args],
            capture_output=True,
            env=env,
            stdin=subprocess.DEVNULL,
            timeout=30,
        )
        assert out.returncode == 255
        assert out.stderr.decode().count("\n") == 1 and message in out.stderr.decode()


def test_connect_imports_nothing_heavy() -> None:
    """ssh starts it for every connection: no config, no asyncssh, no argparse."""
    probe = (
        "import sys\n"
        "from auditor.cli import main\n"
        "main(['connect', '--proxy', '127.0.0.1:1', 'h:1'])\n"
        "heavy = ('asyncssh', 'cryptography', 'yaml', 'textual', 'pyte', 'sqlite3')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('auditor', *heavy))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == str(
        sorted(["auditor", "auditor.cli", "auditor.cli.connect", "auditor.preamble"])
    )
