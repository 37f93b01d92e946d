"""The one-hop preamble (DESIGN §12): what ``auditor connect`` says before the SSH handshake.

One line names the target, ``AUDITOR-ONE-HOP/1 proxy:HOST:PORT[@CLUSTER]\\n``,
in the form of the nested path's subsystem request; the proxy answers one
line, ``OK\\n`` or ``ERR reason\\n``, and after ``OK`` the connection carries
the client's own SSH handshake. An SSH client's first bytes are always
``SSH-``, so the first bytes tell the two paths apart.

Kept apart from ``auditor.proxy`` so that ``auditor connect``, a
ProxyCommand started for every ssh, imports nothing but this.
"""

from __future__ import annotations

MAGIC = b"AUDITOR-ONE-HOP/1 "
OK = b"OK\n"
ERR = b"ERR "
MAX_LINE = 1024


def opening_line(target: str) -> bytes:
    """The line for ``target`` (``HOST:PORT[@CLUSTER]``, as OpenSSH's %h:%p gives it)."""
    return MAGIC + b"proxy:" + target.encode() + b"\n"


def refusal(reason: str) -> bytes:
    return ERR + " ".join(reason.split()).encode()[: MAX_LINE - 8] + b"\n"
