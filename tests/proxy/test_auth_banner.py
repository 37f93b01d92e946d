"""A refused login says why on the user's terminal: one auth-banner line before
OpenSSH's ``Permission denied``, on the one-hop and the nested path (DESIGN §13)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from auditor.authority.ca import load_authority
from tests.conftest import NODE
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, login_name, require
from tests.harness.proxy import PROXY_ALIAS
from tests.proxy.conftest import Setup

PATHS = ("one-hop", "nested")
# The client that a person at a terminal runs: OpenSSH's defaults, where
# keyboard-interactive comes after the keys (the harness turns it off).
INTERACTIVE = ("-o", "BatchMode=no", "-o", "KbdInteractiveAuthentication=yes")


@pytest.fixture
def banner_setup(shared_setup: Setup) -> Iterator[Setup]:
    """The module's proxy and node, with an agent each test fills itself."""
    setup = shared_setup
    forget_all(setup.agent)
    yield setup
    forget_all(setup.agent)


def forget_all(agent: SshAgent) -> None:
    subprocess.run(
        [require("ssh-add"), "-D"], env=agent.env, capture_output=True, check=True, timeout=10
    )


def route(setup: Setup, path: str, interactive: bool = False) -> None:
    """What `auditor config ssh` (one hop) or `auditor config ssh --nested` writes."""
    client, port = setup.client, setup.proxy.port
    extra = " ".join(INTERACTIVE) if interactive else ""
    if path == "one-hop":
        connect = f"{sys.executable} -m auditor connect"
        client.extra_config = [
            "Host *.example.com",
            f"    ProxyCommand {connect} --proxy 127.0.0.1:{port} %h:%p",
            "    ProxyUseFdpass yes",
            "    ForwardAgent yes",
        ]
        return
    setup.proxy.route(client)
    # The outer hop is where the nested path's login is refused first.
    client.extra_config[-1] = client.extra_config[-1].replace(f"-p {port} ", f"-p {port} {extra} ")
    assert PROXY_ALIAS in client.extra_config[0]


def add_certificate(
    agent: SshAgent,
    signer: asyncssh.SSHKey,
    key_id: str,
    principals: list[str],
    valid_after: float,
    valid_before: float,
) -> None:
    """A certificate in the agent as asyncssh signs it, validity as given (past ones too)."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    cert = signer.generate_user_certificate(
        key,
        key_id,
        principals=principals,
        valid_after=int(valid_after),
        valid_before=int(valid_before),
        permit_agent_forwarding=True,
    )

    async def add() -> None:
        async with await asyncssh.connect_agent(str(agent.sock)) as client:
            await client.add_keys([(key, cert)])

    asyncio.run(add())


def add_plain_key(agent: SshAgent) -> None:
    async def add() -> None:
        async with await asyncssh.connect_agent(str(agent.sock)) as client:
            await client.add_keys([asyncssh.generate_private_key("ssh-ed25519")])

    asyncio.run(add())


def ssh(setup: Setup, path: str, *options: str, login: str | None = None) -> str:
    route(setup, path, interactive=bool(options))
    out = setup.client.run(
        *options, "-p", str(setup.node.port), f"{login or login_name()}@{NODE}", "true"
    )
    assert out.returncode == 255, out.stderr.decode()
    return out.stderr.decode()


def said_before_denied(stderr: str) -> str:
    """The one line auditor said, checked to come before OpenSSH's refusal."""
    lines = [line for line in stderr.splitlines() if line.startswith("auditor: ")]
    assert len(lines) == 1, stderr
    assert "Permission denied" in stderr, stderr
    assert stderr.index(lines[0]) < stderr.index("Permission denied"), stderr
    return lines[0]


def failures_since(cli: AuditorCli, kind: str, since: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        rows = json.loads(cli.run("failures", "--kind", kind, "--json").stdout)
        rows = [r for r in rows if float(r["time"]) >= since]
        if rows or time.monotonic() > deadline:
            return rows


@pytest.mark.parametrize("path", PATHS)
def test_expired_certificate(banner_setup: Setup, path: str) -> None:
    setup = banner_setup
    ca = load_authority(setup.cli.data_dir, "user")
    now = time.time()
    expired = int(now - 3600) // 60 * 60  # on a minute: the line shows minutes
    add_certificate(
        setup.agent, ca, f"auditor:user:{login_name()}", [login_name()], now - 7200, expired
    )
    since = time.time()
    line = said_before_denied(ssh(setup, path))
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expired))
    assert line == (
        f"auditor: your certificate auditor:user:{login_name()} expired at {when}; "
        f"run auditor login --user={login_name()}"
    )
    # Still indexed as before.
    rows = failures_since(setup.cli, "user_auth_failed", since)
    assert len(rows) == 1, rows
    assert "expired" in str(rows[0]["message"])


@pytest.mark.parametrize("path", PATHS)
def test_certificate_from_another_ca(banner_setup: Setup, path: str) -> None:
    setup = banner_setup
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    now = time.time()
    # A key ID anyone can write, made to act on the terminal: it is shown escaped.
    add_certificate(
        setup.agent, stranger, "evil\x1b]2;owned\x07", [login_name()], now - 60, now + 600
    )
    line = said_before_denied(ssh(setup, path))
    assert line == (
        "auditor: certificate evil\\x1b]2;owned\\x07 is not signed by this proxy's user CA; "
        "run auditor login --user=NAME"
    )


@pytest.mark.parametrize("path", PATHS)
def test_login_not_among_principals(banner_setup: Setup, path: str) -> None:
    setup = banner_setup
    ca = load_authority(setup.cli.data_dir, "user")
    now = time.time()
    add_certificate(setup.agent, ca, "auditor:user:joe", ["deploy", "www"], now - 60, now + 600)
    line = said_before_denied(ssh(setup, path))
    assert line == (
        f"auditor: your certificate auditor:user:joe is not valid for login '{login_name()}' "
        "(only deploy, www)"
    )


@pytest.mark.parametrize("path", PATHS)
def test_no_certificate_offered(banner_setup: Setup, path: str) -> None:
    setup = banner_setup
    add_plain_key(setup.agent)
    line = said_before_denied(ssh(setup, path, *INTERACTIVE))
    assert line == "auditor: no auditor certificate offered; run auditor login --user=NAME"


def test_empty_agent(banner_setup: Setup) -> None:
    line = said_before_denied(ssh(banner_setup, "one-hop", *INTERACTIVE))
    assert line == "auditor: no auditor certificate offered; run auditor login --user=NAME"


def test_several_refused_keys_one_line(banner_setup: Setup) -> None:
    # Refusals of a plain key, a certificate from another CA and an expired
    # one: the client reads one line, about the first certificate it offered.
    setup = banner_setup
    ca = load_authority(setup.cli.data_dir, "user")
    now = time.time()
    add_plain_key(setup.agent)
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    add_certificate(setup.agent, stranger, "other", [login_name()], now - 60, now + 600)
    add_certificate(setup.agent, ca, "auditor:user:joe", [login_name()], now - 7200, now - 3600)
    line = said_before_denied(ssh(setup, "one-hop", *INTERACTIVE))
    assert "certificate other is not signed by this proxy's user CA" in line


def test_a_good_certificate_after_a_plain_key_says_nothing(banner_setup: Setup) -> None:
    setup = banner_setup
    add_plain_key(setup.agent)
    setup.cli.env.update(setup.agent.env)
    setup.cli.run("login", f"--user={login_name()}")
    for path in PATHS:
        route(setup, path, interactive=True)
        out = setup.client.run(
            *INTERACTIVE, "-p", str(setup.node.port), f"{login_name()}@{NODE}", "echo in"
        )
        assert out.returncode == 0, out.stderr.decode()
        assert out.stdout == b"in\n"
        assert "auditor:" not in out.stderr.decode()


def test_scp_shows_the_line(banner_setup: Setup, tmp_path: Path) -> None:
    setup = banner_setup
    ca = load_authority(setup.cli.data_dir, "user")
    now = time.time()
    add_certificate(setup.agent, ca, "auditor:user:joe", ["deploy"], now - 60, now + 600)
    route(setup, "one-hop")
    source = tmp_path / "f.txt"
    source.write_text("x\n")
    out = subprocess.run(
        [
            require("scp"),
            "-F",
            str(setup.client.write()),
            "-P",
            str(setup.node.port),
            str(source),
            f"{login_name()}@{NODE}:/tmp/never",
        ],
        capture_output=True,
        env=setup.client.env(),
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert out.returncode != 0
    line = said_before_denied(out.stderr.decode())
    assert line.startswith("auditor: your certificate auditor:user:joe is not valid for login")
