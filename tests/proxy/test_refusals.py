"""A request the node refuses ends the client's channel at once, named and indexed."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.proxy.conftest import StartProxy, login_and_route


def failures(cli: AuditorCli, kind: str) -> list[dict[str, object]]:
    return list(json.loads(cli.run("failures", "--kind", kind, "--json").stdout))


def sessions(cli: AuditorCli) -> list[dict[str, object]]:
    return list(json.loads(cli.run("sessions", "--json").stdout))


NO_SFTP = {"Subsystem": "not-sftp /bin/false"}  # replaces the harness's `Subsystem sftp`


def run_with_stdin_open(argv: list[str], env: dict[str, str]) -> tuple[int, str, float]:
    """Run a client whose stdin stays open; how long it lived after the proxy's refusal line."""
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    lines: list[str] = []
    refused_at: list[float] = []

    def read_stderr() -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            lines.append(raw.decode(errors="replace").rstrip())
            if lines[-1].startswith("auditor:") and not refused_at:
                refused_at.append(time.monotonic())

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        code = proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"{argv[0]} still running 20 s later; stderr: {lines}") from None
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
    exited_at = time.monotonic()
    reader.join(5)
    assert refused_at, lines
    return code, "\n".join(lines), exited_at - refused_at[0]


def test_scp_and_sftp_to_a_node_without_sftp_exit_at_once(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node(extra=NO_SFTP)
    proxy = start_proxy(nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    src = tmp_path / "file.txt"
    src.write_text("never arrives\n")
    config = str(ssh_client.write())
    target = f"{login_name()}@{NODE}"
    scp = ["scp", "-F", config, "-P", str(node.port), str(src), f"{target}:{tmp_path}/copy"]
    sftp = ["sftp", "-F", config, "-P", str(node.port), target]
    for argv in (scp, sftp):
        code, err, after = run_with_stdin_open(argv, ssh_client.env())
        assert code != 0, err
        assert err.splitlines()[0] == (
            "auditor: node.example.com refused the sftp subsystem: "
            "add `Subsystem sftp internal-sftp` to its sshd_config"
        ), err
        assert after < 1.0, (after, err)
    assert not (tmp_path / "copy").exists()
    rows = eventually(lambda: failures(ca, "subsystem_refused")[1:], what="two failure rows")
    assert {(r["node"], r["user"]) for r in rows} == {(NODE, login_name())}
    listing = ca.run("failures").stdout
    assert "refused the sftp subsystem" in listing
    assert "subsystem_refused: " in listing and "`Subsystem sftp internal-sftp`" in listing
    ended = eventually(
        lambda: [r for r in sessions(ca) if r["status"] == "ended"][1:], what="two ended sessions"
    )
    assert {r["exit_status"] for r in ended} == {255}


def test_a_refused_pty_is_named_and_the_command_still_runs(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    # OpenSSH straight to the node goes on without a pty; so does the proxy.
    node = start_node(extra={"PermitTTY": "no"})
    proxy = start_proxy(nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run("-tt", "-p", str(node.port), f"{login_name()}@{NODE}", "echo ran; tty")
    assert out.returncode == 1, out.stderr.decode()  # `tty`: not a tty
    assert out.stdout == b"ran\nnot a tty\n"  # no pty, so no CR
    assert "auditor: node.example.com refused a pty" in out.stderr.decode()
    row = eventually(lambda: failures(ca, "request_refused"), what="a request_refused row")[0]
    assert "PermitTTY" in str(row["hint"])
