"""MaxStartups retries, trusted clusters and the non-recording modes."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name, turned_away
from tests.harness.proxy import PROXY_ALIAS
from tests.proxy.conftest import StartProxy, login_and_route

MAXSTARTUPS = {"MaxStartups": "1:100:1", "LoginGraceTime": "60"}


def failures(cli: AuditorCli, kind: str) -> list[dict[str, object]]:
    return list(json.loads(cli.run("failures", "--kind", kind, "--json").stdout))


def ended_sessions(cli: AuditorCli) -> list[dict[str, object]]:
    rows = json.loads(cli.run("sessions", "--json").stdout)
    return [r for r in rows if r["status"] == "ended"]


def hold_unauthenticated(port: int, n: int = 2) -> list[socket.socket]:
    """Connections that never authenticate: sshd counts them against MaxStartups."""
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
    eventually(lambda: turned_away(port), what="sshd to drop past MaxStartups")
    return held


def test_maxstartups_drops_are_retried_until_the_node_has_room(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node(extra=MAXSTARTUPS)
    proxy = start_proxy(proxy_options="  dial_attempts: 8\n", nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    held = hold_unauthenticated(node.port, 1)
    proc = subprocess.Popen(
        ssh_client.argv("-p", str(node.port), f"{login_name()}@{NODE}", "echo made-it"),
        env=ssh_client.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    eventually(lambda: "dropped (Exceeded MaxStartups" in proxy.log(), what="a dropped dial")
    for s in held:
        s.close()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    assert out == b"made-it\n"
    assert "Exceeded MaxStartups" in node.log() or "drop connection" in node.log()
    rows = eventually(lambda: failures(ca, "maxstartups"), what="the maxstartups row")
    assert int(str(rows[0]["retries"])) >= 1
    assert "succeeded after" in str(rows[0]["message"])
    assert "MaxStartups 50:30:100" in str(rows[0]["hint"])


def test_maxstartups_gives_a_clear_message_when_retries_run_out(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node(extra=MAXSTARTUPS)
    proxy = start_proxy(proxy_options="  dial_attempts: 3\n", nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    held = hold_unauthenticated(node.port, 1)
    try:
        out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "true", timeout=60)
    finally:
        for s in held:
            s.close()
    assert out.returncode == 255
    assert "MaxStartups exceeded; gave up after 2 retries" in out.stderr.decode()
    rows = failures(ca, "maxstartups")
    assert rows and rows[0]["retries"] == 2


def test_trusted_cluster_is_reached_through_its_proxy_and_recorded_here(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node()
    # The leaf cluster shares the root's CAs, as the reference recommends.
    leaf_home = tmp_path / "leaf-home"
    leaf_home.mkdir(mode=0o700)
    shutil.copytree(ca.data_dir / "ca", leaf_home / "ca")
    leaf = start_proxy(
        "auth_service:\n  session_recording: node\n", nodes={NODE: node.port}, data_dir=leaf_home
    )
    root = start_proxy(f"trusted_clusters:\n  leaf: {{proxy_addr: 127.0.0.1:{leaf.port}}}\n")
    login_and_route(ca, agent, root, ssh_client)
    ssh_client.extra_config[-1] += "@leaf"
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo via-leaf")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"via-leaf\n"
    rows = eventually(lambda: ended_sessions(ca), what="the ended session")
    assert rows[0]["cluster"] == "leaf"
    text = ca.run("export", str(rows[0]["id"]), "--format", "text").stdout
    assert "via-leaf" in text


def test_recording_off_pipes_to_the_node_and_still_indexes_the_connection(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy("auth_service:\n  session_recording: off\n", nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo direct")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"direct\n"
    rows = eventually(lambda: ended_sessions(ca), what="the ended session")
    assert rows[0]["node"] == NODE and not rows[0].get("recording_path")
    assert int(str(rows[0]["bytes_out"])) > 0
    assert PROXY_ALIAS  # the client verified the node's own host certificate end to end
