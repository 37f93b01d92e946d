"""Roles enforced by the proxy before it dials: labels, patterns, logins, clusters, every mode.

A refused name is never dialled: the requests that must be refused point at
a listening socket of the test's own (``Trap``), which must have taken no
connection when the client has its refusal.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.harness.proxy import PROXY_ALIAS, ProxyProcess
from tests.proxy.conftest import StartProxy
from tests.proxy.test_one_hop import route_one_hop

ME = login_name()


class Trap:
    """A listening socket nothing may reach: what a refused request would have dialled."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def untouched(self) -> bool:
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return True
        conn.close()
        return False


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.sock.close()


def failures(cli: AuditorCli, kind: str) -> list[dict[str, object]]:
    return list(json.loads(cli.run("failures", "--kind", kind, "--json").stdout))


def audit_events(proxy: ProxyProcess) -> list[dict[str, object]]:
    path = proxy.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def issue(ca: AuditorCli, agent: SshAgent, tmp_path: Path, config: str, user: str = ME) -> str:
    """`auditor login` from a config holding the same users and roles as the proxy's."""
    issuing = tmp_path / "issuing.yaml"
    issuing.write_text(config)
    ca.config = issuing
    ca.env.update(agent.env)
    return ca.run("login", f"--user={user}").stdout


def trust_localhost(client: SshClient, proxy: ProxyProcess) -> None:
    """`localhost` through the proxy too, its host certificate from the auditor's host CA."""
    proxy.route(client, pattern="*.example.com localhost")
    line = client.known_hosts_lines[0]
    client.known_hosts_lines.append(line.replace("*.example.com", "localhost", 1))


def direct_request(client: SshClient, proxy: ProxyProcess, subsystem: str) -> tuple[int, str]:
    """A ``proxy:`` request made by hand, for a name no ssh_config routes."""
    out = client.run("-s", f"{ME}@{PROXY_ALIAS}", subsystem)
    return out.returncode, out.stderr.decode()


LABELLED = f"""\
nodes:
  {NODE}: {{addr: 127.0.0.1, labels: {{env: dev}}}}
  db1.example.com: {{addr: 127.0.0.1, labels: {{env: prod}}}}
roles:
  dev: {{logins: [{ME}], node_labels: {{env: [dev, staging]}}}}
  ops: {{logins: [daemon], node_labels: {{env: prod}}}}
users:
  {ME}: {{roles: [dev, ops]}}
"""


def test_roles_allow_by_label_and_refuse_other_labels_logins_and_unlisted_names(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
    trap: Trap,
) -> None:
    node = start_node()
    printed = issue(ca, agent, tmp_path, LABELLED)
    assert f"for logins {ME}, daemon" in printed  # the union of the roles' logins
    proxy = start_proxy(LABELLED)
    proxy.route(ssh_client)

    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "echo allowed-by-label")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"allowed-by-label\n"

    # Another label: db1 is env=prod, where only daemon may go.
    out = ssh_client.run("-p", str(trap.port), f"{ME}@db1.example.com", "true")
    assert out.returncode != 0
    refusal = f"auditor: {ME} may not reach db1.example.com as {ME} (roles: dev, ops)"
    assert refusal in out.stderr.decode()
    assert "env=prod" not in out.stderr.decode()  # the inventory's labels stay the proxy's

    # The right label, the wrong login: daemon is ops's, and ops is for env=prod.
    out = ssh_client.run("-p", str(trap.port), f"daemon@{NODE}", "true")
    assert out.returncode != 0
    assert f"auditor: {ME} may not reach {NODE} as daemon (roles: dev, ops)" in (
        out.stderr.decode()
    )

    # A name outside the inventory that no role's `nodes` matches.
    code, err = direct_request(ssh_client, proxy, f"proxy:localhost:{trap.port}")
    assert code != 0
    assert f"auditor: {ME} may not reach localhost as {ME} (roles: dev, ops)" in err
    assert trap.untouched()

    eventually(lambda: len(failures(ca, "access_denied")) >= 3, what="three refusals")
    rows = failures(ca, "access_denied")
    assert {r["node"] for r in rows} == {"db1.example.com", NODE, "localhost"}
    assert "auditor access" in str(rows[0]["hint"])
    by_node = {r["node"]: r for r in rows}
    assert "node_labels env=dev|staging do not match" in str(by_node["db1.example.com"]["detail"])
    events = audit_events(proxy)
    denied = [e for e in events if e.get("kind") == "access_denied"]
    assert len(denied) == 3 and all(e["user"] == ME for e in denied)
    allowed = [e for e in events if e["event"] == "access_allowed"]
    assert allowed and allowed[0]["role"] == "dev" and allowed[0]["node"] == NODE


PATTERNED = f"""\
nodes:
  db1.example.com: {{addr: 127.0.0.1, labels: {{env: prod}}}}
roles:
  local: {{logins: [{ME}], nodes: [local*]}}
users:
  {ME}: {{roles: [local]}}
"""


@pytest.mark.parametrize("mode", ["proxy", "node", "off"])
def test_a_nodes_pattern_reaches_names_outside_the_inventory_in_every_mode(
    mode: str,
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
    trap: Trap,
) -> None:
    node = start_node("localhost")
    issue(ca, agent, tmp_path, PATTERNED)
    proxy = start_proxy(f"auth_service:\n  session_recording: {mode}\n" + PATTERNED)
    trust_localhost(ssh_client, proxy)

    out = ssh_client.run("-p", str(node.port), f"{ME}@localhost", "echo by-pattern")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"by-pattern\n"

    # In the inventory, so labels decide; the role has none.
    out = ssh_client.run("-p", str(trap.port), f"{ME}@db1.example.com", "true")
    assert out.returncode != 0
    assert f"auditor: {ME} may not reach db1.example.com as {ME} (roles: local)" in (
        out.stderr.decode()
    )
    # Outside the inventory, matching no pattern: never dialled, whatever the mode pipes.
    code, err = direct_request(ssh_client, proxy, f"proxy:127.0.0.1:{trap.port}")
    assert code != 0
    assert f"auditor: {ME} may not reach 127.0.0.1 as {ME} (roles: local)" in err
    assert trap.untouched()
    eventually(lambda: len(failures(ca, "access_denied")) == 2, what="both refusals indexed")
    details = {r["node"]: str(r["detail"]) for r in failures(ca, "access_denied")}
    assert (
        "127.0.0.1 is not in the inventory nor matched by its nodes (local*)"
        in (details["127.0.0.1"])
    )
    assert "node_labels none do not match" in details["db1.example.com"]


def test_a_user_without_roles_reaches_every_node_as_before(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node("localhost")
    legacy = f"nodes:\n  db1.example.com: {{addr: 127.0.0.1}}\nusers:\n  {ME}: {{logins: [{ME}]}}\n"
    issue(ca, agent, tmp_path, legacy)
    proxy = start_proxy("auth_service:\n  session_recording: node\n" + legacy)
    trust_localhost(ssh_client, proxy)
    # A name outside the inventory, through DNS, as before roles.
    out = ssh_client.run("-p", str(node.port), f"{ME}@localhost", "echo legacy")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"legacy\n"
    assert not failures(ca, "access_denied")


def test_roles_reach_a_trusted_cluster_they_list_and_no_other(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
    trap: Trap,
) -> None:
    node = start_node()
    leaf_home = tmp_path / "leaf-home"
    leaf_home.mkdir(mode=0o700)
    shutil.copytree(ca.data_dir / "ca", leaf_home / "ca")
    leaf = start_proxy(
        "auth_service:\n  session_recording: node\n", nodes={NODE: node.port}, data_dir=leaf_home
    )
    root_config = f"""\
trusted_clusters:
  leaf: {{proxy_addr: 127.0.0.1:{leaf.port}}}
  other: {{proxy_addr: 127.0.0.1:{trap.port}}}
roles:
  leafers: {{logins: [{ME}], clusters: [leaf]}}
users:
  {ME}: {{roles: [leafers]}}
"""
    issue(ca, agent, tmp_path, root_config)
    root = start_proxy(root_config)
    root.route(ssh_client)
    hop = ssh_client.extra_config[-1]
    ssh_client.extra_config[-1] = hop + "@leaf"
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "echo via-leaf")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"via-leaf\n"
    # The root's inventory does not hold the node: without the cluster it is refused.
    ssh_client.extra_config[-1] = hop
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "true")
    assert f"auditor: {ME} may not reach {NODE} as {ME} (roles: leafers)" in out.stderr.decode()
    # A cluster the role does not list: its proxy is never dialled.
    ssh_client.extra_config[-1] = hop + "@other"
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "true")
    assert f"may not reach {NODE}@other as {ME} (roles: leafers)" in out.stderr.decode()
    assert trap.untouched()
    rows = eventually(lambda: failures(ca, "access_denied"), what="access_denied rows")
    assert any("cluster other is not in its clusters (leaf)" in str(r["detail"]) for r in rows)


def test_one_hop_refuses_before_the_dial_with_a_banner(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
    trap: Trap,
) -> None:
    node = start_node()
    issue(ca, agent, tmp_path, LABELLED)
    proxy = start_proxy(LABELLED)
    route_one_hop(proxy, ssh_client)
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "echo one-hop-allowed")
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"one-hop-allowed\n"
    out = ssh_client.run("-p", str(trap.port), f"{ME}@db1.example.com", "true")
    assert out.returncode == 255
    refusal = f"auditor: {ME} may not reach db1.example.com as {ME} (roles: dev, ops)"
    assert refusal in out.stderr.decode()
    assert trap.untouched()
    [row] = eventually(lambda: failures(ca, "access_denied"), what="the access_denied row")
    assert row["node"] == "db1.example.com" and row["login"] == ME
    assert not failures(ca, "user_auth_failed")  # one refusal, under its own kind


def test_sighup_applies_a_role_change_to_new_sessions_and_keeps_live_ones(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    tmp_path: Path,
) -> None:
    node = start_node()
    issue(ca, agent, tmp_path, LABELLED)
    proxy = start_proxy(LABELLED)
    proxy.route(ssh_client)
    live = subprocess.Popen(
        ssh_client.argv("-p", str(node.port), f"{ME}@{NODE}", "echo started; read x; echo $x"),
        env=ssh_client.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert live.stdout is not None and live.stdin is not None
    assert live.stdout.readline() == b"started\n"

    text = proxy.config_path.read_text()
    proxy.config_path.write_text(text.replace("env: [dev, staging]", "env: [staging]"))
    proxy.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "config reloaded from" in proxy.log(), what="the reload")
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "true")
    assert f"auditor: {ME} may not reach {NODE} as {ME} (roles: dev, ops)" in out.stderr.decode()

    # A bad file: one line naming file and key; the running roles stay.
    proxy.config_path.write_text(text.replace("roles: [dev, ops]", "roles: [dev, nosuch]"))
    proxy.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "config not reloaded" in proxy.log(), what="the refused reload")
    line = next(x for x in proxy.log().splitlines() if "config not reloaded" in x)
    assert f"{proxy.config_path}: users.{ME}.roles[1]: unknown role 'nosuch'" in line
    out = ssh_client.run("-p", str(node.port), f"{ME}@{NODE}", "true")
    assert "may not reach" in out.stderr.decode()

    # The session that was open before the change carries on to its end.
    stdout, stderr = live.communicate(b"still-here\n", timeout=30)
    assert live.returncode == 0, stderr.decode()
    assert stdout == b"still-here\n"
    assert proxy.proc.poll() is None
