"""Fixtures for tests that go through the recording proxy to a real sshd."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, Sshd, login_name
from tests.harness.proxy import ProxyProcess


@dataclass
class Setup:
    cli: AuditorCli
    agent: SshAgent
    client: SshClient
    node: Sshd
    proxy: ProxyProcess

    def ssh(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> tuple[int, bytes, bytes]:
        out = self.client.run("-p", str(self.node.port), *args, input=input, timeout=timeout)
        return out.returncode, out.stdout, out.stderr

    def target(self, login: str | None = None, node: str = NODE) -> str:
        return f"{login or login_name()}@{node}"


StartProxy = Callable[..., ProxyProcess]


def login_and_route(
    ca: AuditorCli, agent: SshAgent, proxy: ProxyProcess, client: SshClient
) -> None:
    """`auditor login` into the agent, and the client's ssh_config sent through ``proxy``."""
    ca.env.update(agent.env)
    ca.run("login", f"--user={login_name()}")
    proxy.route(client)


@pytest.fixture
def start_proxy(ca: AuditorCli, tmp_path: Path) -> Iterator[StartProxy]:
    started: list[ProxyProcess] = []

    def start(
        config: str = "",
        nodes: dict[str, int] | None = None,
        data_dir: Path | None = None,
        proxy_options: str = "",
    ) -> ProxyProcess:
        p = ProxyProcess.start(
            data_dir or ca.data_dir,
            tmp_path / f"proxy-{len(started)}",
            config,
            nodes,
            proxy_options,
        )
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def setup(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> Setup:
    """A node with a host certificate, a proxy in recording mode, a logged-in user."""
    node = start_node()
    proxy = start_proxy(nodes={NODE: node.port})
    login_and_route(ca, agent, proxy, ssh_client)
    return Setup(ca, agent, ssh_client, node, proxy)
