"""The ``proxy:HOST:PORT[@CLUSTER]`` subsystem request (DESIGN §5)."""

from __future__ import annotations

import re
from dataclasses import dataclass

EXPECTED = "expected proxy:HOST:PORT, proxy:HOST:PORT@CLUSTER, proxy:[IPv6]:PORT or proxy:HOST"
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_CLUSTER = re.compile(r"^[A-Za-z0-9_.-]+$")


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class ProxyRequest:
    host: str
    port: int
    cluster: str | None = None

    def subsystem(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        suffix = f"@{self.cluster}" if self.cluster else ""
        return f"proxy:{host}:{self.port}{suffix}"


def parse_subsystem(name: str) -> ProxyRequest:
    """Parse what OpenSSH's ``-s proxy:%h:%p`` sends; refuse anything else with the form."""

    def bad(why: str) -> BadRequest:
        return BadRequest(f"bad request {name!r}: {why}; {EXPECTED}")

    if not name.startswith("proxy:"):
        raise bad("unknown subsystem")
    rest = name[len("proxy:") :]
    cluster: str | None = None
    if "@" in rest:
        rest, cluster = rest.rsplit("@", 1)
        if not _CLUSTER.match(cluster):
            raise bad("invalid cluster name")
    port_s: str | None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise bad("unclosed '['")
        host, tail = rest[1:end], rest[end + 1 :]
        if not host or not re.fullmatch(r"[0-9A-Fa-f:.%a-z]+", host) or ":" not in host:
            raise bad("invalid IPv6 address")
        if tail and not tail.startswith(":"):
            raise bad("expected ':PORT' after ']'")
        port_s = tail[1:] if tail else None
    else:
        if rest.count(":") > 1:
            raise bad("IPv6 addresses need brackets")
        host, _, port_s = rest.partition(":")
        if not _NAME.match(host or "-") or not host:
            raise bad("invalid host name")
        if not _:
            port_s = None
    if port_s is None:
        port = 22
    elif port_s.isdigit() and 0 < int(port_s) < 65536:
        port = int(port_s)
    else:
        raise bad(f"invalid port {port_s!r}")
    return ProxyRequest(host, port, cluster)
