"""X11 forwarding is refused at once with a line the client prints; the session goes on."""

from __future__ import annotations

import subprocess

from auditor.proxy.bridge import X11_REFUSED
from tests.proxy.conftest import Setup


def test_x11_forwarding_is_refused_in_one_line_and_never_hangs(setup: Setup) -> None:
    # No X server is needed to ask: -Y sends the request with made-up cookie data.
    env = {**setup.client.env(), "DISPLAY": ":77"}
    argv = setup.client.argv("-Y", "-p", str(setup.node.port), setup.target(), "echo [$DISPLAY]")
    out = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    assert out.stdout == b"[]\n"
    err = out.stderr.decode()
    assert f"auditor: {X11_REFUSED}" in err, err
    # ...then OpenSSH's own line, as from an sshd with X11Forwarding no; nothing waits on it.
    assert "X11 forwarding request failed on channel 0" in err
    events = (setup.cli.data_dir / "audit.log").read_text()
    assert '"event":"x11_refused"' in events
