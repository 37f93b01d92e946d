"""Dialling a node: TCP with sshd MaxStartups detection, then SSH with strict host certs.

sshd drops connections past ``MaxStartups`` by writing ``Exceeded
MaxStartups`` and closing before its version line; an SSH library only sees
a reset or EOF. So the proxy connects the socket itself, peeks at the first
bytes, retries drops with backoff for as long as ``dial_timeout`` allows, and
only then hands the socket to asyncssh.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncssh

from auditor.index import FailureKind
from auditor.proxy import failures
from auditor.proxy.failures import ProxyFailure

log = logging.getLogger("auditor.proxy")

# Certificates first, then plain keys: without a plain algorithm on offer a
# node lacking a certificate shows up as a reset instead of a host key error.
HOST_KEY_ALGS = [
    "ssh-ed25519-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "rsa-sha2-512-cert-v01@openssh.com",
    "rsa-sha2-256-cert-v01@openssh.com",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "rsa-sha2-512",
    "rsa-sha2-256",
]
# asyncssh's chacha20 path costs about twice the CPU of AES-GCM (DESIGN §10),
# and AES-CTR adds a separate MAC pass. The proxy's own servers offer only
# GCM, because OpenSSH clients pick by their own preference (chacha20, then
# CTR) among what the server offers; upstream, GCM comes first.
SERVER_CIPHERS = ["aes128-gcm@openssh.com", "aes256-gcm@openssh.com"]
CIPHERS = [*SERVER_CIPHERS, "aes128-ctr", "aes256-ctr", "chacha20-poly1305@openssh.com"]
MAXSTARTUPS_TEXT = b"Exceeded MaxStartups"


@dataclass(frozen=True)
class NodeTarget:
    name: str  # what the client asked for; the host certificate must name it
    addr: str  # where to connect: from the `nodes` inventory, else the name (DNS)
    port: int


class _Dropped(Exception):
    def __init__(self, detail: str, maxstartups: bool) -> None:
        super().__init__(detail)
        self.maxstartups = maxstartups


def _set_once(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _connect_and_peek(target: NodeTarget, timeout: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.addr, target.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ProxyFailure(
            FailureKind.NODE_UNREACHABLE,
            f"cannot resolve {target.addr}: {exc.strerror}",
            str(exc),
        ) from None
    last: OSError | None = None
    for family, type_, proto, _, sockaddr in infos:
        sock = socket.socket(family, type_, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout)
        except (OSError, TimeoutError) as exc:
            sock.close()
            last = exc if isinstance(exc, OSError) else OSError(f"timed out after {timeout:g}s")
            continue
        try:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(sock.fileno(), _set_once, ready)
            try:
                await asyncio.wait_for(ready, timeout)
            finally:
                loop.remove_reader(sock.fileno())
            head = sock.recv(512, socket.MSG_PEEK)
        except TimeoutError:
            sock.close()
            raise ProxyFailure(
                FailureKind.NODE_UNREACHABLE,
                f"ssh: handshake failed: {target.name} sent no SSH version within {timeout:g}s",
            ) from None
        except OSError as exc:
            sock.close()
            raise _Dropped(f"connection reset before the SSH version line: {exc}", False) from None
        if MAXSTARTUPS_TEXT in head:
            sock.close()
            raise _Dropped(head.decode(errors="replace").strip(), True)
        if not head:
            sock.close()
            raise _Dropped("EOF before the SSH version line", False)
        return sock
    raise ProxyFailure(
        FailureKind.NODE_UNREACHABLE,
        f"cannot reach {_where(target)}: {os_reason(last)}",
        str(last),
    )


def _where(target: NodeTarget) -> str:
    here = f"{target.addr}:{target.port}"
    return here if target.name == target.addr else f"{target.name} at {here}"


def os_reason(exc: BaseException | None) -> str:
    """An OS error as a person reads it: ``Connection refused``, not asyncio's
    ``Connect call failed ('127.0.0.1', 22)`` (which it puts in strerror)."""
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int) and errno > 0:
        return os.strerror(errno)
    return str(exc) if exc is not None else "no address to try"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: each wait is drawn from [0, min(cap, base·2ⁿ)].

    Full jitter, not a jitter around the exponential step: when a storm of
    sessions is dropped together, their retries must spread out instead of
    arriving at sshd together again (each arrival is one more startup that
    MaxStartups counts).
    """

    base: float = 0.1
    cap: float = 2.0

    def delay(self, retry: int) -> float:
        return random.uniform(0.0, min(self.cap, self.base * 2.0**retry))


DEFAULT_BACKOFF = Backoff()  # starts near 100 ms, waits at most 2 s


async def connect_with_retries(
    target: NodeTarget,
    attempts: int,
    timeout: float,
    on_drop: Callable[[int, str], None] | None = None,
    backoff: Backoff = DEFAULT_BACKOFF,
) -> tuple[socket.socket, int]:
    """A socket to the node whose first bytes are sshd's, and how many retries it took.

    Drops (MaxStartups, EOF, reset before the version line) are retried for
    as long as ``timeout`` allows, so a storm that passes within it never
    reaches the user; ``attempts`` only caps the tries.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    deadline = started + timeout
    retries = 0
    saw_maxstartups = False
    while True:
        # The last try may start just before the deadline: give it a fair wait.
        try_timeout = max(deadline - loop.time(), min(timeout, 1.0))
        try:
            return await _connect_and_peek(target, try_timeout), retries
        except _Dropped as drop:
            saw_maxstartups = saw_maxstartups or drop.maxstartups
            if on_drop:
                on_drop(retries + 1, str(drop))
            # The last wait ends at the deadline: one more try then, none after.
            delay = min(backoff.delay(retries), deadline - loop.time())
            if retries + 1 >= attempts or delay <= 0:
                spent = f"{loop.time() - started:.1f}s"
                if saw_maxstartups:
                    raise ProxyFailure(
                        FailureKind.MAXSTARTUPS,
                        "ssh: handshake failed: EOF (the node's sshd dropped the connection: "
                        f"MaxStartups exceeded; gave up after {retries} retries in {spent})",
                        str(drop),
                        retries=retries,
                    ) from None
                raise ProxyFailure(
                    FailureKind.NODE_UNREACHABLE,
                    f"ssh: handshake failed: EOF ({drop}; gave up after {retries} retries "
                    f"in {spent})",
                    str(drop),
                    retries=retries,
                ) from None
            log.info(
                "dial %s:%s dropped (%s); retry in %.2fs", target.name, target.port, drop, delay
            )
            retries += 1
            await asyncio.sleep(delay)


class _HostKeyJudge(asyncssh.SSHClient):
    """Notes what the node presented, so a refusal gets its precise failure kind."""

    def __init__(self, allow_plain: bool, target: NodeTarget) -> None:
        self.allow_plain = allow_plain
        self.target = target
        self.plain_key = False
        self.foreign_ca = False

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        self.plain_key = True
        if self.allow_plain:
            log.warning(
                "node %s presented a plain host key %s; accepted because "
                "proxy_checks_host_keys is off (MITM risk)",
                self.target.name,
                key.get_fingerprint(),
            )
        return self.allow_plain

    def validate_host_ca_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.foreign_ca = True
        return False


def classify_host_key_error(judge: _HostKeyJudge, exc: Exception) -> ProxyFailure:
    text = str(exc)
    name = judge.target.name
    if judge.foreign_ca:
        return failures.host_cert_untrusted(name, text)
    if judge.plain_key:
        return failures.host_cert_missing(name, text)
    lowered = text.lower()
    if "principal" in lowered:
        return failures.host_principal_mismatch(name, text)
    if "expired" in lowered or "not yet valid" in lowered:
        return failures.host_cert_expired(name, text)
    return failures.host_cert_untrusted(name, text)


async def open_ssh(
    sock: socket.socket,
    target: NodeTarget,
    login: str,
    client_keys: Sequence[asyncssh.SSHKeyPair],
    host_ca: asyncssh.SSHKey,
    check_host_keys: bool,
    timeout: float,
) -> asyncssh.SSHClientConnection:
    judge = _HostKeyJudge(not check_host_keys, target)
    try:
        return await asyncssh.connect(
            target.name,
            target.port,
            sock=sock,
            config=None,
            username=login,
            client_factory=lambda: judge,
            known_hosts=([], [host_ca], []),
            host_key_alias=target.name,
            server_host_key_algs=HOST_KEY_ALGS,
            encryption_algs=CIPHERS,
            client_keys=list(client_keys),
            agent_path=None,
            preferred_auth=["publickey"],
            login_timeout=timeout,
            connect_timeout=timeout,
            keepalive_interval=30,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise classify_host_key_error(judge, exc) from None
    except asyncssh.PermissionDenied as exc:
        raise ProxyFailure(
            FailureKind.NODE_AUTH_FAILED,
            f"ssh: handshake failed: {target.name} refused the certificate for login {login!r} "
            "(is the login among the certificate's principals, and does sshd trust the user CA?)",
            str(exc),
        ) from None
    except (asyncssh.ConnectionLost, ConnectionError) as exc:
        raise ProxyFailure(
            FailureKind.NODE_UNREACHABLE, f"ssh: handshake failed: EOF ({exc})", str(exc)
        ) from None
    except asyncssh.Error as exc:
        raise ProxyFailure(
            FailureKind.PROTOCOL_ERROR, f"ssh: handshake failed: {exc.reason}", repr(exc)
        ) from None
    except TimeoutError:
        raise ProxyFailure(
            FailureKind.NODE_UNREACHABLE,
            f"ssh: handshake failed: {target.name} did not finish the handshake in {timeout:g}s",
        ) from None
