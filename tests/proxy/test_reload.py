"""SIGHUP rereads the config (issue #21, point 8): what applies to new connections
applies at once, what takes a restart is said, and a bad file changes nothing."""

from __future__ import annotations

import json
import signal

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, free_port, login_name
from tests.proxy.conftest import StartProxy, login_and_route


def test_a_node_added_to_the_inventory_is_reached_after_sighup_without_a_restart(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy("")
    login_and_route(ca, agent, proxy, ssh_client)
    argv = ("-p", str(node.port), f"{login_name()}@{NODE}", "echo reached")
    before = ssh_client.run(*argv)
    assert before.returncode == 255
    assert f"cannot resolve {NODE}" in before.stderr.decode()

    text = proxy.config_path.read_text()
    moved = text.replace(f"127.0.0.1:{proxy.port}", f"127.0.0.1:{free_port()}")
    proxy.config_path.write_text(
        moved + f"nodes:\n  {NODE}: {{addr: 127.0.0.1}}\n" + "retention: {sessions: 400d}\n"
    )
    proxy.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "config reloaded from" in proxy.log(), what="the reload")
    line = next(x for x in proxy.log().splitlines() if "config reloaded from" in x)
    assert "changed nodes, retention" in line
    assert "listen_addr changed but take a restart (the running values stay)" in line

    after = ssh_client.run(*argv)  # through the same listener: listen_addr kept
    assert after.returncode == 0, after.stderr.decode()
    assert after.stdout == b"reached\n"
    events = [json.loads(x) for x in (proxy.data_dir / "audit.log").read_text().splitlines()]
    [reload] = [e for e in events if e["event"] == "config_reloaded"]
    assert reload["changed"] == ["nodes", "retention"]
    assert reload["restart_needed"] == ["listen_addr"]

    # A bad file: one line naming the file and the key; the running config stays.
    proxy.config_path.write_text(text + "retention: {sessions: 10}\n")
    proxy.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "config not reloaded" in proxy.log(), what="the refused reload")
    bad = next(x for x in proxy.log().splitlines() if "config not reloaded" in x)
    assert f"{proxy.config_path}" in bad and "retention.sessions" in bad
    again = ssh_client.run(*argv)
    assert again.returncode == 0 and again.stdout == b"reached\n"
    assert proxy.proc.poll() is None
