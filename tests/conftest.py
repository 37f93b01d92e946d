"""Fixtures every test that needs SSH peers uses: real OpenSSH, started per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import MissingTool, SshAgent, SshClient, Sshd
from tests.harness.postgres import MissingPostgres, PostgresServer
from tests.harness.s3 import CREDENTIALS as S3_CREDENTIALS
from tests.harness.s3 import S3Server

NODE = "node.example.com"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the whole run; each test gets its own database."""
    try:
        server = PostgresServer.start()
    except MissingPostgres as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def postgres_uri(postgres_server: PostgresServer) -> Iterator[str]:
    """``storage.audit_events_uri`` of a fresh, empty database."""
    name = postgres_server.new_database()
    yield postgres_server.uri(name)
    postgres_server.drop_database(name)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """An S3-compatible endpoint (moto's server) on a free loopback port, and its
    credentials in the environment as a user would set them (commands and
    proxies the test starts inherit them)."""
    for name, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    server = S3Server.start_new()
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "auditor-home"


@pytest.fixture
def cli(data_dir: Path) -> AuditorCli:
    return AuditorCli(data_dir)


@pytest.fixture
def ca(cli: AuditorCli) -> AuditorCli:
    """A data dir with both CAs initialised through the CLI."""
    cli.run("ca", "init")
    return cli


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[SshAgent]:
    try:
        a = SshAgent.start(tmp_path)
    except MissingTool as exc:
        pytest.fail(str(exc))
    yield a
    a.stop()


def user_ca_file(cli: AuditorCli, directory: Path) -> Path:
    """The reference's recipe: `ca export --type=user`, minus the `cert-authority` word."""
    line = cli.run("ca", "export", "--type=user").stdout.strip()
    assert line.startswith("cert-authority ")
    path = directory / "user_ca.pub"
    path.write_text(line.removeprefix("cert-authority ") + "\n")
    return path


StartNode = Callable[..., Sshd]


@pytest.fixture
def start_node(ca: AuditorCli, tmp_path: Path) -> Iterator[StartNode]:
    """Start an sshd node trusting the user CA, with a host certificate from ``ca sign``.

    ``cert_for`` signs the host certificate for another name (a principal
    mismatch); ``cert=False`` gives the node a plain host key only.
    """
    started: list[Sshd] = []

    def start(
        name: str = NODE,
        *,
        cert: bool = True,
        cert_for: str | None = None,
        signer: AuditorCli | None = None,
        extra: dict[str, str] | None = None,
        trust_users: bool = True,
        ttl: str | None = None,
    ) -> Sshd:
        directory = tmp_path / f"node-{name}-{len(started)}"
        directory.mkdir(parents=True)
        (signer or ca).run(
            "ca",
            "sign",
            f"--host={cert_for or name}",
            "--format=openssh",
            "--out",
            str(directory),
            *([f"--ttl={ttl}"] if ttl else []),
        )
        key = directory / (cert_for or name)
        certificate = directory / f"{cert_for or name}-cert.pub"
        try:
            node = Sshd.start(
                directory,
                host_key=key,
                host_certificate=certificate if cert else None,
                trusted_user_ca=user_ca_file(ca, directory) if trust_users else None,
                extra=extra or {},
            )
        except MissingTool as exc:
            pytest.fail(str(exc))
        started.append(node)
        return node

    yield start
    for node in started:
        node.stop()


@pytest.fixture
def ssh_client(ca: AuditorCli, agent: SshAgent, tmp_path: Path) -> SshClient:
    """OpenSSH's ssh whose known_hosts holds only the host CA's @cert-authority line."""
    line = ca.run("ca", "export", "--type=host").stdout.strip()
    return SshClient(tmp_path / "client", agent, known_hosts_lines=[line])
