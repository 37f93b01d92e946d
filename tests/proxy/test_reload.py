"""SIGHUP rereads the config (issue #21, point 8): what applies to new connections
applies at once, what takes a restart is said, and a bad file changes nothing."""

from __future__ import annotations

import json
import signal
import tempfile
from pathlib import Path

from auditor.recording import RecordingReader, Stream
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.background import Background
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


def test_a_new_session_on_an_open_multiplexed_connection_takes_the_reloaded_config(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    """A connection that is already up (an OpenSSH ControlMaster) keeps only what
    its open sessions started with: the next session on it takes the policy a
    reload put in force, here that typed input is no longer recorded."""
    node = start_node()
    proxy = start_proxy(
        f"auth_service:\n  session_recording_input: all\nnodes:\n  {NODE}: {{addr: 127.0.0.1}}\n"
    )
    login_and_route(ca, agent, proxy, ssh_client)
    control = Path(tempfile.mkdtemp(prefix="cm", dir="/tmp")) / "s"  # a short socket path
    target = f"{login_name()}@{NODE}"
    options = ["-o", f"ControlPath {control}", "-p", str(node.port)]
    master = Background(
        ssh_client.argv("-N", "-o", "ControlMaster yes", *options, target), ssh_client.env()
    )
    try:
        eventually(lambda: master.alive() and control.exists(), what="the master's socket")

        def session(typed: bytes) -> None:
            done = ssh_client.run("-o", "ControlMaster no", *options, target, "cat", input=typed)
            assert done.returncode == 0 and done.stdout == typed, done.stderr.decode()

        session(b"before-the-reload\n")
        text = proxy.config_path.read_text()
        proxy.config_path.write_text(
            text.replace("session_recording_input: all", "session_recording_input: none")
        )
        proxy.proc.send_signal(signal.SIGHUP)
        eventually(lambda: "config reloaded from" in proxy.log(), what="the reload")
        session(b"after-the-reload\n")
        ssh_client.run(*options, "-O", "exit", target)
    finally:
        master.stop()

    def ended() -> list[dict[str, object]] | None:
        rows = json.loads(ca.run("sessions", "--json", "--limit", "100").stdout)
        done = [r for r in rows if r["command"] == "cat" and r["status"] == "ended"]
        return done if len(done) == 2 else None

    rows = sorted(
        eventually(ended, timeout=30, what="both sessions' end"),
        key=lambda r: float(str(r["start"])),
    )
    assert len({r["connection_id"] for r in rows}) == 1  # multiplexed: one connection
    typed = [
        b"".join(
            r.data
            for r in RecordingReader(str(row["recording_path"])).records()
            if r.stream is Stream.INPUT
        )
        for row in rows
    ]
    assert typed == [b"before-the-reload\n", b""]
