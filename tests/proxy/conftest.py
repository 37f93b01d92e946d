"""Fixtures for tests that go through the recording proxy to a real sshd."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NODE, StartNode, user_ca_file
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import MissingTool, SshAgent, SshClient, Sshd, login_name
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


@pytest.fixture(scope="module")
def shared_setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """One ``setup`` for all of a module's tests, for rows that only add sessions to it.

    Each test then looks only at what happened since it began (its rows in
    the index, its audit events); the node, proxy and agent cost seconds to
    start, a workflow often less.
    """
    base = tmp_path_factory.mktemp("shared")
    cli = AuditorCli(base / "auditor-home")
    cli.run("ca", "init")
    try:
        agent = SshAgent.start(base)
    except MissingTool as exc:
        pytest.fail(str(exc))
    try:
        node_dir = base / "node"
        node_dir.mkdir()
        cli.run("ca", "sign", f"--host={NODE}", "--format=openssh", "--out", str(node_dir))
        try:
            node = Sshd.start(
                node_dir,
                host_key=node_dir / NODE,
                host_certificate=node_dir / f"{NODE}-cert.pub",
                trusted_user_ca=user_ca_file(cli, node_dir),
            )
        except MissingTool as exc:
            pytest.fail(str(exc))
        try:
            line = cli.run("ca", "export", "--type=host").stdout.strip()
            client = SshClient(base / "client", agent, known_hosts_lines=[line])
            proxy = ProxyProcess.start(cli.data_dir, base / "proxy", "", {NODE: node.port})
            try:
                login_and_route(cli, agent, proxy, client)
                yield Setup(cli, agent, client, node, proxy)
            finally:
                proxy.stop()
        finally:
            node.stop()
    finally:
        agent.stop()
