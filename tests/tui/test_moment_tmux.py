"""`auditor ID@T` for real: the command line opens the app on that replay, at that moment."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import free_port
from tests.harness.tmux import Tmux
from tests.tui.test_tmux import auditor_argv
from tests.tui.world import build_world


def test_auditor_id_at_t_opens_the_replay_there(ca: AuditorCli, tmp_path: Path) -> None:
    assert shutil.which("tmux")
    world = build_world(ca.data_dir, live=False)
    config = tmp_path / "auditor.yaml"
    config.write_text(f"proxy_service:\n  listen_addr: 127.0.0.1:{free_port()}\n")
    tmux = Tmux(150, 40)
    tmux.start(
        [*auditor_argv(), f"{world.shell[:6]}@0:03.5"],
        env={
            "AUDITOR_HOME": str(ca.data_dir),
            "AUDITOR_CONFIG": str(config),
            "TERM": "xterm-256color",
        },
    )
    try:
        screen = tmux.wait_for(f"{world.shell[:8]}@0:03.5", timeout=30)
        screen = tmux.wait_for("web1.example.com", timeout=15)
        assert "secret-token-42" not in screen
        tmux.send("Escape")
        tmux.wait_for("login@node", timeout=10)  # the sessions screen under it
        tmux.send("q")
        assert tmux.wait_for_exit(timeout=60) == "exit 0"
    finally:
        tmux.kill()
