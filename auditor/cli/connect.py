"""``auditor connect HOST:PORT[@CLUSTER]``: the one-hop ProxyCommand.

ssh starts it for every connection, so it imports nothing but the standard
library's C socket layer and the preamble's few constants (``auditor.preamble``):
no argparse, no config, no asyncssh, not even ``socket`` (building its enums
took a third of the start-up) or ``threading`` unless it relays. It connects to the proxy, names the
target, and then either hands the connected socket to ssh
(``ProxyUseFdpass yes``: ssh's end of our stdout is a Unix socket, and no
process is left relaying bytes) or relays stdin and stdout itself.

The proxy's address comes from ``--proxy HOST:PORT`` (what ``auditor config
ssh`` writes) or ``$AUDITOR_PROXY``. Errors are one line on stderr and exit
status 255, as ssh's own connection errors are.
"""

from __future__ import annotations

import _socket
import os
import stat
import sys

from auditor import preamble

USAGE = "usage: auditor connect [--proxy HOST:PORT] [--timeout S] HOST:PORT[@CLUSTER]"
DEFAULT_TIMEOUT = 10.0
CHUNK = 256 * 1024


class ConnectError(Exception):
    pass


def _split_host_port(text: str, what: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConnectError(f"{what}: expected HOST:PORT, got {text!r}")
    return host, int(port)


def _target(text: str) -> str:
    """``HOST:PORT[@CLUSTER]`` as the proxy's request form (IPv6 in brackets)."""
    cluster = ""
    if "@" in text:
        text, cluster = text.rsplit("@", 1)
        cluster = "@" + cluster
    host, port = _split_host_port(text, "target")
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}{cluster}"


def parse_args(argv: list[str]) -> tuple[str, tuple[str, int], float]:
    proxy = os.environ.get("AUDITOR_PROXY", "")
    timeout = DEFAULT_TIMEOUT
    target = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            raise ConnectError(USAGE)
        if arg.startswith("--proxy"):
            proxy = arg.partition("=")[2] if "=" in arg else (args.pop(0) if args else "")
        elif arg.startswith("--timeout"):
            value = arg.partition("=")[2] if "=" in arg else (args.pop(0) if args else "")
            try:
                timeout = float(value)
            except ValueError:
                raise ConnectError(f"--timeout: expected seconds, got {value!r}") from None
        elif arg.startswith("-") or target is not None:
            raise ConnectError(f"unexpected argument {arg!r}; {USAGE}")
        else:
            target = arg
    if target is None:
        raise ConnectError(USAGE)
    if not proxy:
        raise ConnectError(
            "which proxy? give --proxy HOST:PORT or set AUDITOR_PROXY "
            "(`auditor config ssh` writes it into the ProxyCommand)"
        )
    return _target(target), _split_host_port(proxy, "--proxy"), timeout


def _connect(address: tuple[str, int], timeout: float) -> _socket.socket:
    """``socket.create_connection``, on the C layer: each address in turn."""
    error: OSError | None = None
    host, port = address
    # An ASCII name as bytes: a str goes through the idna codec, which imports re.
    name = host.encode() if host.isascii() else host
    for family, kind, proto, _, addr in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(addr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host}: no address")


def open_to_proxy(target: str, proxy: tuple[str, int], timeout: float) -> _socket.socket:
    """A connection to the proxy that has accepted the target: SSH from here on."""
    try:
        sock = _connect(proxy, timeout)
    except OSError as exc:
        raise ConnectError(
            f"cannot reach the proxy at {proxy[0]}:{proxy[1]}: {exc.strerror or exc}"
        ) from None
    try:
        sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        sock.sendall(preamble.opening_line(target))
        # Exactly the answer's line: the proxy's SSH version line follows it at
        # once, and it is ssh's to read.
        answer = b""
        while not answer.endswith(b"\n") and len(answer) < preamble.MAX_LINE:
            more = sock.recv(1)
            if not more:
                break
            answer += more
    except OSError as exc:
        sock.close()
        raise ConnectError(f"the proxy at {proxy[0]}:{proxy[1]}: {exc.strerror or exc}") from None
    if answer == preamble.OK:
        sock.settimeout(None)
        return sock
    sock.close()
    if answer.startswith(preamble.ERR):
        raise ConnectError(answer[len(preamble.ERR) :].decode("utf-8", "replace").strip())
    said = answer.split(b"\n", 1)[0][:60].decode("ascii", "replace")
    raise ConnectError(
        f"{proxy[0]}:{proxy[1]} did not answer as an auditor proxy with the one-hop path "
        f"({f'it said {said!r}' if said else 'it closed the connection'}; an older proxy? "
        "use `auditor config ssh --nested`)"
    )


def _relay(sock: _socket.socket) -> None:
    """stdin to the proxy, the proxy to stdout, until both ends are done."""
    import threading  # only here: with ProxyUseFdpass nothing relays

    def upstream() -> None:
        # An error here means the proxy closed the connection: the loop below
        # sees that end and reports it.
        try:
            while data := os.read(0, CHUNK):
                sock.sendall(data)
            sock.shutdown(_socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    while data := sock.recv(CHUNK):
        view = memoryview(data)
        while view:
            view = view[os.write(1, view) :]


def run(argv: list[str]) -> int:
    try:
        target, proxy, timeout = parse_args(argv)
        sock = open_to_proxy(target, proxy, timeout)
    except ConnectError as exc:
        print(f"auditor: {exc}", file=sys.stderr)
        return 255
    if stat.S_ISSOCK(os.fstat(1).st_mode):
        # ProxyUseFdpass: ssh waits for the connected socket on our stdout.
        out = _socket.socket(fileno=os.dup(1))
        try:
            rights = sock.fileno().to_bytes(4, sys.byteorder)  # one C int
            out.sendmsg([b"\0"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        finally:
            out.close()
        sock.close()
        return 0
    try:
        _relay(sock)
    except OSError as exc:
        print(f"auditor: connection to the proxy lost: {exc.strerror or exc}", file=sys.stderr)
        return 255
    return 0
