"""`auditor proxy` says so when it listens where other machines can reach it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import free_port, stop_process

WIDE = "listening on 0.0.0.0:{port}, reachable from other machines"


def run_proxy_until(cli: AuditorCli, config: Path, wanted: str, log: Path) -> str:
    """Start the proxy, wait for ``wanted`` (or its start-up line) in its log, stop it."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "auditor", "proxy", "--config", str(config)],
            stdout=out,
            stderr=out,
            env=cli.environ(),
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text(errors="replace")
            if wanted in text or "auditor proxy listening on" in text:
                time.sleep(0.2)  # a warning comes right after the start-up line
                break
            time.sleep(0.05)
    finally:
        stop_process(proc)  # not a moment longer on every interface than the test needs
    return log.read_text(errors="replace")


def test_a_wide_listener_is_said_in_one_line(ca: AuditorCli, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "auditor.yaml"
    config.write_text(f"proxy_service:\n  listen_addr: 0.0.0.0:{port}\n")
    text = run_proxy_until(ca, config, WIDE.format(port=port), tmp_path / "proxy.log")
    lines = [line for line in text.splitlines() if "reachable from other machines" in line]
    assert len(lines) == 1, text
    assert lines[0].endswith(f"WARNING auditor.proxy: {WIDE.format(port=port)}")
    events = [json.loads(line) for line in (ca.data_dir / "audit.log").read_text().splitlines()]
    [said] = [e for e in events if e["event"] == "listening"]
    assert said["address"] == f"0.0.0.0:{port}"
    assert said["reachable"] == "from other machines"


def test_loopback_says_nothing_of_it(ca: AuditorCli, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "auditor.yaml"
    config.write_text(f"proxy_service:\n  listen_addr: 127.0.0.1:{port}\n")
    text = run_proxy_until(ca, config, "auditor proxy listening on", tmp_path / "proxy.log")
    assert f"auditor proxy listening on 127.0.0.1:{port}" in text
    assert "reachable from other machines" not in text


def test_a_port_alone_is_refused_in_one_line(ca: AuditorCli, tmp_path: Path) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("proxy_service:\n  listen_addr: 3023\n")
    out = ca.run("proxy", "--config", str(config), check=False, timeout=30)
    assert out.returncode != 0
    assert out.stderr.count("\n") == 1, out.stderr
    assert "127.0.0.1:3023 (this machine only) or 0.0.0.0:3023" in out.stderr
