"""The proxy's own MaxStartups: connections not yet logged in, capped.

A connection counts from its first moment (``Arriving``, before it is known
to be SSH or one hop) until it logs in, so a flood of silent connections
can't crowd out a client that is logging in. At the cap the one that has
made the least progress is dropped (sshd's random early drop), never the
newcomer. The connections that logged in are kept to close at stop.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict
from typing import Any

import asyncssh

from auditor.proxy.sshserver import CertificateServer

log = logging.getLogger("auditor.proxy")


class Arriving:
    """A connection not yet known to be SSH or one hop (its first bytes or its
    preamble are still to come): it holds a place under the unauthenticated
    cap, and eviction ends the task serving it."""

    def __init__(self) -> None:
        self.task = asyncio.current_task()
        self.heard = False  # its preamble began: it has made progress

    def abort(self) -> None:
        if self.task is not None:
            self.task.cancel()


Unauthenticated = CertificateServer | Arriving


class Admission:
    """Who is logging in (capped) and who logged in: one for the proxy's life,
    shared by every connection whatever config it started under."""

    def __init__(self) -> None:
        self.unauthenticated: OrderedDict[Unauthenticated, float] = OrderedDict()
        self.connections: set[asyncssh.SSHServerConnection] = set()

    def add(self, entry: Unauthenticated, cap: int) -> None:
        """Count ``entry`` as unauthenticated, dropping another one at the cap."""
        if len(self.unauthenticated) >= cap:
            # Drop one that has made the least progress, at random among those
            # (sshd's random early drop), rather than refuse the newcomer: whoever
            # holds slots open cannot lock real users out, and in a burst the
            # handshakes under way are not the ones cut.
            victim, rank = _least_progress(self.unauthenticated)
            del self.unauthenticated[victim]
            log.warning(
                "unauthenticated connections at the cap (%d); dropping one %s",
                cap,
                _RANKS[rank],
            )
            if isinstance(victim, Arriving):
                victim.abort()
            elif victim.conn is not None:
                victim.conn.abort()
        self.unauthenticated[entry] = time.monotonic()

    def left(self, entry: Unauthenticated) -> None:
        """No longer logging in: logged in, failed, closed or handed on."""
        self.unauthenticated.pop(entry, None)

    def connected(self, conn: asyncssh.SSHServerConnection) -> None:
        self.connections.add(conn)

    def closed(self, server: CertificateServer) -> None:
        self.unauthenticated.pop(server, None)
        if server.conn is not None:
            self.connections.discard(server.conn)


# What an unauthenticated connection has done so far, least first.
_RANKS = (
    "that has not sent an SSH version line",
    "sending its one-hop preamble",
    "in key exchange",
    "in authentication",
)


def _progress(entry: Unauthenticated) -> int:
    """How far a connection got (an index of ``_RANKS``); asyncssh keeps the
    client's version line and the key exchange's end in private names (it is
    pinned below 3, see sshserver.py)."""
    if isinstance(entry, Arriving):
        return 1 if entry.heard else 0
    conn: Any = entry.conn
    if conn is None or not getattr(conn, "_client_version", b""):
        return 0
    if entry.login is not None:
        return 3
    return 2


def _least_progress(
    table: OrderedDict[Unauthenticated, float],
) -> tuple[Unauthenticated, int]:
    ranked: dict[int, list[Unauthenticated]] = {}
    for entry in table:
        ranked.setdefault(_progress(entry), []).append(entry)
    rank = min(ranked)
    return random.choice(ranked[rank]), rank
