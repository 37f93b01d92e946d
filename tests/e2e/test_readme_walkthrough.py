"""The README's "Try it on one machine" runs as written (issue #21, point 3).

The block is read out of README.md and run by bash, with three changes a test
needs and a reader does not: its directory, its two ports (free ones, not 2222
and 3023) and a config line for the proxy's port. Everything it starts (sshd,
the proxy, ssh-agent) is ended by PID when it is done.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.harness.openssh import free_port

ROOT = Path(__file__).resolve().parents[2]


def walkthrough() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Try it on one machine", 1)[1]
    found = re.search(r"```bash\n(.*?)```", section, re.S)
    assert found, "the README lost its walkthrough"
    return found.group(1)


def test_try_it_on_one_machine_as_written(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    node_port, proxy_port = free_port(), free_port()
    script = walkthrough()
    assert "/tmp/auditor-demo" in script and "2222" in script and "3023" in script
    script = script.replace("/tmp/auditor-demo", str(demo))
    script = script.replace("2222", str(node_port)).replace("3023", str(proxy_port))
    config_line = "printf 'nodes:\\n  node.example.com: {addr: 127.0.0.1}\\n' > $D/config.yaml\n"
    assert config_line in script
    script = script.replace(
        config_line,
        config_line
        + f"printf 'proxy_service:\\n  listen_addr: 127.0.0.1:{proxy_port}\\n' >> $D/config.yaml\n",
    )
    # The processes it leaves running are this test's to end, by PID.
    prologue = (
        "cleanup() { for p in $(jobs -p); do kill $p 2>/dev/null || true; done;"
        ' [ -n "${SSH_AGENT_PID:-}" ] && kill $SSH_AGENT_PID 2>/dev/null; true; }\n'
        "trap cleanup EXIT\n"
    )
    (tmp_path / "home").mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
    }
    result = subprocess.run(
        ["bash", "-c", prologue + script],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=tmp_path,
    )
    # As typed at a prompt: no `set -e` (the remote `exit 3` ends its ssh with 3);
    # the last command's status and what each printed tell.
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "recorded-through-auditor" in out
    assert "/tmp/copied-through-auditor" in out  # sftp listed what scp copied
    assert Path("/tmp/copied-through-auditor").read_text() == Path("/etc/hostname").read_text()
    listing = out.split("ID        START", 1)[1].split("\n")[1:4]
    # Newest first: sftp, then scp (an SFTP session since OpenSSH 9), then the exit 3.
    assert [("sftp" in row, "exit 3" in row) for row in listing] == [
        (True, False),
        (True, False),
        (False, True),
    ], listing
    assert "Warning: ssh server tried agent forwarding" not in result.stderr
    os.unlink("/tmp/copied-through-auditor")
