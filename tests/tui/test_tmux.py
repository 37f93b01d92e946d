"""The real thing: `auditor` in tmux on a fresh data dir, a real ssh session through its proxy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, free_port, login_name
from tests.harness.proxy import PROXY_ALIAS
from tests.harness.tmux import Tmux


def auditor_argv() -> list[str]:
    installed = Path(sys.executable).parent / "auditor"
    return [str(installed)] if installed.exists() else [sys.executable, "-m", "auditor"]


def route(client: SshClient, port: int) -> None:
    """What `auditor config ssh` sets up, for the app's proxy on ``port``."""
    hop = (
        f"ssh -F {client.config_path} -o 'ForwardAgent yes' -p {port} "
        f"%r@{PROXY_ALIAS} -s proxy:%h:%p"
    )
    client.extra_config = [
        f"Host {PROXY_ALIAS}",
        "    HostName 127.0.0.1",
        f"    Port {port}",
        f"    HostKeyAlias {PROXY_ALIAS}",
        "    ProxyCommand none",
        "Host *.example.com",
        f"    ProxyCommand {hop}",
    ]


def test_a_real_session_appears_live_then_replays(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    tmp_path: Path,
) -> None:
    assert shutil.which("tmux")
    node = start_node()
    port = free_port()
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"proxy_service:\n  listen_addr: 127.0.0.1:{port}\nnodes:\n  {NODE}: {{addr: 127.0.0.1}}\n"
    )
    ca.env.update(agent.env)
    ca.run("login", f"--user={login_name()}")
    route(ssh_client, port)
    tmux = Tmux(150, 40)
    tmux.start(
        auditor_argv(),
        env={
            "AUDITOR_HOME": str(ca.data_dir),
            "AUDITOR_CONFIG": str(config),
            "TERM": "xterm-256color",
        },
    )
    ssh: subprocess.Popen[bytes] | None = None
    try:
        tmux.wait_for(f"proxy 127.0.0.1:{port}", timeout=30)
        tmux.wait_for("sample", timeout=15)  # a first run: the samples are there to look at
        ssh = subprocess.Popen(
            ssh_client.argv(
                "-p",
                str(node.port),
                f"{login_name()}@{NODE}",
                "echo tui-live-marker; sleep 4; echo tui-done-marker",
            ),
            env=ssh_client.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        screen = tmux.wait_for("● LIVE", timeout=20)
        assert "1 live" in screen
        out, err = ssh.communicate(timeout=30)
        assert ssh.returncode == 0, err.decode()
        assert b"tui-done-marker" in out
        tmux.wait_for(lambda s: "● LIVE" not in s and "0 live" in s, timeout=20)
        tmux.send("Home", "Enter")  # the newest session, at the top
        tmux.wait_for("replay", timeout=10)
        tmux.type("+++")  # 8x
        tmux.send("Space")
        screen = tmux.wait_for("tui-done-marker", timeout=15)
        assert "tui-live-marker" in screen
        tmux.send("Escape")
        tmux.wait_for("login@node", timeout=10)
        tmux.send("q")
        # The app exits 0 and stops its proxy on the way out.
        # Generous: the proxy waits up to 10 s for its text-extraction child on the way out.
        assert tmux.wait_for_exit(timeout=60) == "exit 0"
    finally:
        if ssh is not None and ssh.poll() is None:
            ssh.kill()
            ssh.wait()
        tmux.kill()
    assert not (ca.data_dir / "proxy.json").exists()
