"""A burst of sessions through one hop to an sshd with its default MaxStartups: none lost.

sshd's default ``MaxStartups 10:30:100`` drops at random past 10 connections
that have not authenticated. A hundred sessions started at once through the
proxy would be a hundred dials at once; the proxy keeps its dials to the node
under what sshd admits and queues the rest, so none is dropped, none fails.
"""

from __future__ import annotations

import json
import subprocess
import time

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.proxy.conftest import StartProxy
from tests.proxy.test_one_hop import one_hop

SESSIONS = 100


def test_100_sessions_at_once_through_one_hop_to_a_default_sshd_all_succeed(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()  # no MaxStartups line: sshd's 10:30:100
    assert "MaxStartups" not in node.config_path.read_text()
    proxy = start_proxy(nodes={NODE: node.port})
    one_hop(ca, agent, ssh_client, proxy)
    procs: list[subprocess.Popen[bytes]] = []
    started = time.monotonic()
    for i in range(SESSIONS):
        argv = ssh_client.argv("-p", str(node.port), f"{login_name()}@{NODE}", f"echo ok-{i}")
        procs.append(
            subprocess.Popen(
                argv,
                env=ssh_client.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        )
    results = [p.communicate(timeout=120) for p in procs]
    spent = time.monotonic() - started
    failed = [
        (i, p.returncode, err.decode(errors="replace").strip())
        for i, (p, (out, err)) in enumerate(zip(procs, results, strict=True))
        if (p.returncode, out) != (0, f"ok-{i}\n".encode())
    ]
    assert not failed, f"{len(failed)} of {SESSIONS} failed in {spent:.1f}s: {failed[:5]}"
    # The proxy caused no drop: no MaxStartups failure, not even one retried.
    assert json.loads(ca.run("failures", "--kind", "maxstartups", "--json").stdout) == []
    # It held its dials back (8 in flight, sshd's 10 less room for others) and,
    # the handshakes going through cleanly, let one more in: the audit log says so.
    raised = eventually(
        lambda: [
            line
            for line in (ca.data_dir / "audit.log").read_text().splitlines()
            if json.loads(line).get("event") == "dial_limit"
        ],
        what="the dial limit's change in the audit log",
    )
    first = json.loads(raised[0])
    assert (first["node"], first["was"], first["limit"]) == (NODE, 8, 9), first
