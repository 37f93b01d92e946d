"""Real OpenSSH peers for tests: sshd, ssh-agent and the ssh client.

Each is started in the foreground on 127.0.0.1 with a config generated into a
temp dir and stopped by the PID we started, never by name. A missing OpenSSH
is a failure that says how to install it: these tests are the product's
contract with the tools operators actually run.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
INSTALL_HINT = (
    "install OpenSSH with `apt-get install openssh-server openssh-client` "
    "(or run scripts/test as root, which does)"
)


class MissingTool(RuntimeError):
    pass


def require(tool: str) -> str:
    path = tool if os.path.isabs(tool) else shutil.which(tool)
    if not path or not os.access(path, os.X_OK):
        raise MissingTool(f"{tool} not found: {INSTALL_HINT}")
    return path


def require_tool(tool: str, package: str) -> str:
    """A program a test drives (curl, rsync, git...); missing is a failure naming the package."""
    path = shutil.which(tool)
    if not path:
        raise MissingTool(
            f"{tool} not found: install it with `apt-get install {package}` "
            "(or run scripts/test as root, which does)"
        )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def turned_away(port: int) -> bool:
    """A new connection to the sshd on ``port`` gets its ``Exceeded MaxStartups`` line."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
        probe.settimeout(5)
        try:
            return b"Exceeded MaxStartups" in probe.recv(512)
        except ConnectionResetError:
            return False


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def login_name() -> str:
    """The account tests log in as: sshd not running as root can serve only its own user."""
    return getpass.getuser()


@dataclass
class SshAgent:
    """An ``ssh-agent -D`` of our own, on a socket in the test's temp dir."""

    sock: Path
    proc: subprocess.Popen[bytes]

    @classmethod
    def start(cls, directory: Path) -> SshAgent:
        agent = require("ssh-agent")
        sock = directory / "agent.sock"
        proc = subprocess.Popen(
            [agent, "-D", "-a", str(sock)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 5
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_process(proc)
                raise RuntimeError("ssh-agent did not create its socket")
            time.sleep(0.01)
        return cls(sock, proc)

    @property
    def env(self) -> dict[str, str]:
        return {"SSH_AUTH_SOCK": str(self.sock)}

    def identities(self) -> str:
        out = subprocess.run(
            ["ssh-add", "-L"], env={**os.environ, **self.env}, capture_output=True, text=True
        )
        return out.stdout

    def stop(self) -> None:
        stop_process(self.proc)


@dataclass
class Sshd:
    """A foreground sshd on a free loopback port, logging to ``log_path``."""

    directory: Path
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    config_path: Path

    @classmethod
    def start(
        cls,
        directory: Path,
        *,
        host_key: Path,
        host_certificate: Path | None,
        trusted_user_ca: Path | None,
        extra: Mapping[str, str] | Sequence[tuple[str, str]] = (),
    ) -> Sshd:
        sshd = require(SSHD)
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            # Debian's sshd insists on its privilege-separation directory.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        items = list(extra.items()) if isinstance(extra, Mapping) else list(extra)
        for attempt in range(5):
            port = free_port()
            options: list[tuple[str, str]] = [
                ("Port", str(port)),
                ("ListenAddress", "127.0.0.1"),
                ("HostKey", str(host_key)),
                *([("HostCertificate", str(host_certificate))] if host_certificate else []),
                *([("TrustedUserCAKeys", str(trusted_user_ca))] if trusted_user_ca else []),
                ("AuthorizedKeysFile", "none"),
                ("PubkeyAuthentication", "yes"),
                ("PasswordAuthentication", "no"),
                ("KbdInteractiveAuthentication", "no"),
                ("PermitRootLogin", "yes"),
                ("UsePAM", "no"),
                ("StrictModes", "no"),
                ("PidFile", "none"),
                ("AllowAgentForwarding", "yes"),
                ("AllowTcpForwarding", "yes"),
                ("Subsystem", "sftp internal-sftp"),
                ("LogLevel", "VERBOSE"),
                ("PrintMotd", "no"),
                ("AcceptEnv", "LANG LC_* AUDITOR_TEST_*"),
                *items,
            ]
            # sshd takes the first value it sees for most keywords: test
            # overrides in `extra` must come first.
            options = items + [o for o in options if o[0] not in {k for k, _ in items}]
            config = directory / "sshd_config"
            config.write_text("".join(f"{k} {v}\n" for k, v in options))
            log_path = directory / f"sshd.{attempt}.log"
            log = open(log_path, "wb")  # noqa: SIM115 - owned by the process
            proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(config)], stderr=log)
            log.close()
            try:
                wait_for_port(port, proc)
            except RuntimeError:
                stop_process(proc)
                text = log_path.read_text(errors="replace")
                if "Address already in use" in text:
                    continue  # lost the race for the free port: try another
                raise RuntimeError(f"sshd failed to start: {text.strip()}") from None
            return cls(directory, port, proc, log_path, config)
        raise RuntimeError("sshd could not find a free port")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def _write_if_changed(path: Path, text: str) -> None:
    """Atomically, and only when different: many ssh processes may be reading it."""
    try:
        if path.read_text() == text:
            return
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class SshClient:
    """The OpenSSH client with a generated ssh_config and known_hosts.

    ``hosts`` maps node names to loopback ports: the name stays what ssh
    verifies the host certificate against, as in production.
    """

    directory: Path
    agent: SshAgent | None
    hosts: dict[str, tuple[str, int]] = field(default_factory=dict)
    known_hosts_lines: list[str] = field(default_factory=list)
    extra_config: list[str] = field(default_factory=list)

    @property
    def config_path(self) -> Path:
        return self.directory / "ssh_config"

    @property
    def known_hosts_path(self) -> Path:
        return self.directory / "known_hosts"

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        _write_if_changed(
            self.known_hosts_path, "".join(line + "\n" for line in self.known_hosts_lines)
        )
        lines: list[str] = list(self.extra_config)
        for name, (addr, port) in self.hosts.items():
            # ssh checks known_hosts and the certificate's principals against
            # HostName; the alias keeps that the node's name, as DNS would.
            lines += [
                f"Host {name}",
                f"    HostName {addr}",
                f"    Port {port}",
                f"    HostKeyAlias {name}",
            ]
        lines += [
            "Host *",
            f"    UserKnownHostsFile {self.known_hosts_path}",
            "    GlobalKnownHostsFile /dev/null",
            "    StrictHostKeyChecking yes",
            "    CheckHostIP no",
            "    UpdateHostKeys no",
            "    BatchMode yes",
            "    IdentityFile none",
            "    PasswordAuthentication no",
            "    KbdInteractiveAuthentication no",
            "    ConnectTimeout 10",
        ]
        _write_if_changed(self.config_path, "\n".join(lines) + "\n")
        return self.config_path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        if self.agent:
            env.update(self.agent.env)
        return env

    def argv(self, *args: str) -> list[str]:
        self.write()
        return [require("ssh"), "-F", str(self.config_path), *args]

    def run(
        self, *args: str, input: bytes | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            self.argv(*args),
            input=input,
            capture_output=True,
            env=self.env(),
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
