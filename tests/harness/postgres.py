"""A real PostgreSQL server for the tests, from Debian's ``postgresql`` package.

initdb refuses to run as root, so the cluster belongs to the ``postgres``
system user the package creates: its directory is a fresh temp dir
(in /tmp or /var/tmp, whichever it can traverse) chowned to it.
The server listens on a free loopback port with password (SCRAM) auth, so
a wrong password is refused as it would be in production; it is stopped
by the PID in its ``postmaster.pid``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

INSTALL_HINT = "PostgreSQL server not found: install it with 'apt-get install postgresql'"
PASSWORD = "auditor-test-password"


class MissingPostgres(Exception):
    pass


def postgres_bin() -> Path:
    """The newest installed server's bin directory (Debian keeps it off PATH)."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0,
    )
    if not found:
        raise MissingPostgres(INSTALL_HINT)
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise MissingPostgres(INSTALL_HINT + " (no 'postgres' user)") from None
    return Path(found[-1]).parent


def _reachable_temp_dir() -> str:
    """A temp dir the postgres user can traverse (here /tmp itself may be 0700)."""
    for candidate in (tempfile.gettempdir(), "/var/tmp"):
        if os.stat(candidate).st_mode & 0o001:
            return candidate
    raise RuntimeError("no temp directory the postgres user can reach")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() != 0:
        return list(args)  # already an unprivileged user: run as ourselves
    return ["runuser", "-u", "postgres", "--", *args]


@dataclass
class PostgresServer:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    databases: int = 0

    @classmethod
    def start(cls, timeout: float = 60) -> PostgresServer:
        bin_dir = postgres_bin()
        root = Path(tempfile.mkdtemp(prefix="auditor-pg-", dir=_reachable_temp_dir()))
        data, sockets = root / "data", root / "sockets"
        sockets.mkdir()
        pwfile = root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (root, sockets, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        init = subprocess.run(
            _as_postgres(
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            capture_output=True,
            text=True,
        )
        if init.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        server = cls(root, free_port(), None)  # type: ignore[arg-type]
        server.proc = server._launch()
        server._wait_ready(timeout)
        return server

    def _launch(self) -> subprocess.Popen[bytes]:
        bin_dir, root, port = postgres_bin(), self.root, self.port
        data, sockets = root / "data", root / "sockets"
        log = open(root / "server.log", "ab")  # noqa: SIM115 - the server's lifetime
        proc = subprocess.Popen(
            _as_postgres(
                str(bin_dir / "postgres"),
                "-D",
                str(data),
                "-k",
                str(sockets),
                "-p",
                str(port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "synchronous_commit=off",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        return proc

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"postgres did not start: {(self.root / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def pause(self) -> None:
        """Shut the server down and keep its data: the database is away."""
        self._shut_down()

    def resume(self, timeout: float = 60) -> None:
        """The same server back, on the same port."""
        self.proc = self._launch()
        self._wait_ready(timeout)

    def _ready(self) -> bool:
        try:
            lines = (self.root / "data" / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def uri(self, database: str = "postgres", password: str = PASSWORD) -> str:
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database: each test starts from nothing."""
        self.databases += 1
        name = f"auditor_test_{self.databases}"
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.uri(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        """Fast shutdown of the postmaster by its PID; then its files go."""
        self._shut_down()
        shutil.rmtree(self.root, ignore_errors=True)

    def _shut_down(self) -> None:
        try:
            pid = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGINT)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            if pid is not None:
                os.kill(pid, signal.SIGQUIT)
            self.proc.wait()
