"""`auditor ssh` looks at the agent first: a certificate that cannot log in is
said in the proxy's banner line, with no connection made (no proxy listens here)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from auditor.authority.ca import load_authority
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, login_name


@pytest.fixture
def no_proxy(ca: AuditorCli, tmp_path: Path) -> AuditorCli:
    """The CLI configured for a proxy port nobody listens on: ssh, if run, says so."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "auditor.yaml"
    config.write_text(f"proxy_service:\n  listen_addr: 127.0.0.1:{port}\n")
    return AuditorCli(ca.data_dir, config=config)


def auditor_ssh(cli: AuditorCli, agent: SshAgent | None, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in cli.environ().items() if k != "SSH_AUTH_SOCK"}
    if agent is not None:
        env.update(agent.env)
    out = subprocess.run(
        [sys.executable, "-m", "auditor", "ssh", "-o", "BatchMode=yes", *args, "true"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return out.returncode, out.stderr


def add_certificate(agent: SshAgent, data_dir: Path, principals: list[str], ttl: float) -> None:
    ca = load_authority(data_dir, "user")
    key = asyncssh.generate_private_key("ssh-ed25519")
    now = int(time.time())
    cert = ca.generate_user_certificate(
        key,
        "auditor:user:joe",
        principals=principals,
        valid_after=now - 7200,
        valid_before=int(now + ttl) // 60 * 60,
    )

    async def add() -> None:
        async with await asyncssh.connect_agent(str(agent.sock)) as client:
            await client.add_keys([(key, cert)])

    asyncio.run(add())


def test_empty_agent(no_proxy: AuditorCli, agent: SshAgent) -> None:
    code, err = auditor_ssh(no_proxy, agent, f"{login_name()}@node.example.com")
    assert code == 255
    assert err == "auditor: no auditor certificate offered; run auditor login --user=NAME\n"


def test_no_agent(no_proxy: AuditorCli) -> None:
    code, err = auditor_ssh(no_proxy, None, "node.example.com")
    assert code == 255
    assert err.startswith("auditor: no ssh-agent running: SSH_AUTH_SOCK is not set")
    assert err.count("\n") == 1


def test_expired_certificate(no_proxy: AuditorCli, agent: SshAgent) -> None:
    add_certificate(agent, no_proxy.data_dir, [login_name()], -3600)
    code, err = auditor_ssh(no_proxy, agent, f"{login_name()}@node.example.com")
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(time.time() - 3600) // 60 * 60))
    assert code == 255
    assert err == (
        f"auditor: your certificate auditor:user:joe expired at {when}; "
        "run auditor login --user=joe\n"
    )


def test_login_not_among_principals(no_proxy: AuditorCli, agent: SshAgent) -> None:
    add_certificate(agent, no_proxy.data_dir, ["deploy"], 3600)
    # The login as ssh resolves it: -l here, as [user@] or User in ssh_config elsewhere.
    code, err = auditor_ssh(no_proxy, agent, "-l", "root", "node.example.com")
    assert code == 255
    assert err == (
        "auditor: your certificate auditor:user:joe is not valid for login 'root' (only deploy)\n"
    )


def test_a_good_certificate_goes_on_to_ssh(no_proxy: AuditorCli, agent: SshAgent) -> None:
    add_certificate(agent, no_proxy.data_dir, ["deploy"], 3600)
    code, err = auditor_ssh(no_proxy, agent, "deploy@node.example.com")
    assert code == 255
    assert "cannot reach the proxy" in err  # ssh ran: the check let it
    assert "certificate" not in err
