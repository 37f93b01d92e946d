"""TCP and socket forwards through the recording proxy: bridged, each connection audited.

The tests share one node and proxy (``shared_setup``); each looks only at
the index rows and audit events since it began.
"""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

from tests.harness.background import Background
from tests.harness.echo import HttpServer, UpperEcho, round_trip
from tests.harness.eventually import eventually
from tests.harness.openssh import free_port, require_tool
from tests.harness.since import Since
from tests.proxy.conftest import Setup


def forward_in_background(setup: Setup, *forward: str) -> Background:
    argv = setup.client.argv(
        "-N", "-o", "ExitOnForwardFailure yes", "-p", str(setup.node.port), *forward, setup.target()
    )
    return Background(argv, setup.client.env())


def connect_when_listening(client: Background, address: tuple[str, int] | str) -> socket.socket:
    """A connection to a listener the forward is about to make (refused until it exists)."""

    def attempt() -> socket.socket | None:
        client.alive()
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        sock = socket.socket(family)
        try:
            sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            sock.close()
            return None
        return sock

    return eventually(attempt, what=f"a listener on {address}")


def refused(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_remote_forward_on_a_fixed_port(shared_setup: Setup) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    echo = UpperEcho.tcp()
    remote_port = free_port()
    client = forward_in_background(setup, "-R", f"127.0.0.1:{remote_port}:127.0.0.1:{echo.port}")
    try:
        sock = connect_when_listening(client, ("127.0.0.1", remote_port))
        origin = "{}:{}".format(*sock.getsockname())
        assert round_trip(sock, b"reverse tunnel " * 1000) == b"REVERSE TUNNEL " * 1000
        [row] = seen.ended(1, kind="forward")
    finally:
        client.stop()
        echo.close()
    listen = f"127.0.0.1:{remote_port}"
    assert row["command"] == f"forwarded-tcpip {listen} from {origin}"
    assert (row["bytes_in"], row["bytes_out"]) == (15000, 15000)
    assert row["node"] == "node.example.com" and row["user"] and row["end"]
    assert [e["listen"] for e in seen.audit_events("remote_forward")] == [listen]
    [end] = seen.audit_events("port_forward_end")
    assert (end["channel"], end["dest"], end["origin"]) == ("forwarded-tcpip", listen, origin)
    assert (end["bytes_up"], end["bytes_down"]) == (15000, 15000)


def test_remote_forward_on_port_0_reports_the_port_the_node_chose(shared_setup: Setup) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    echo = UpperEcho.tcp()
    client = forward_in_background(setup, "-R", f"0:127.0.0.1:{echo.port}")
    try:
        line = client.wait_line("Allocated port")
        port = int(re.search(r"Allocated port (\d+)", line).group(1))  # type: ignore[union-attr]
        for i in range(2):
            sock = connect_when_listening(client, ("127.0.0.1", port))
            assert round_trip(sock, f"dynamic {i}".encode()) == f"DYNAMIC {i}".encode()
        rows = seen.ended(2, kind="forward")
    finally:
        client.stop()
        echo.close()
    assert all(str(r["command"]).startswith(f"forwarded-tcpip localhost:{port} ") for r in rows)
    assert [e["listen"] for e in seen.audit_events("remote_forward")] == [f"localhost:{port}"]


def test_dynamic_forward_serves_curl_over_socks_and_audits_each_connection(
    shared_setup: Setup, tmp_path: Path
) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.txt").write_bytes(b"served behind the node\n" * 100)
    web = HttpServer(site)
    socks_port = free_port()
    client = forward_in_background(setup, "-D", f"127.0.0.1:{socks_port}")
    curl = require_tool("curl", "curl")
    try:
        connect_when_listening(client, ("127.0.0.1", socks_port)).close()
        for _ in range(2):
            out = subprocess.run(
                [
                    curl,
                    "-sS",
                    "--max-time",
                    "20",
                    "--socks5-hostname",
                    f"127.0.0.1:{socks_port}",
                    f"http://localhost:{web.port}/index.txt",
                ],
                capture_output=True,
                timeout=30,
            )
            assert out.returncode == 0, out.stderr.decode()
            assert out.stdout == b"served behind the node\n" * 100
        rows = seen.ended(2, kind="forward")
    finally:
        client.stop()
        web.close()
    # The node resolved the name (socks5-hostname): the row keeps the name asked for.
    assert all(str(r["command"]).startswith(f"direct-tcpip localhost:{web.port} ") for r in rows)
    assert all(int(str(r["bytes_out"])) > 2300 for r in rows)
    ends = seen.audit_events("port_forward_end")
    assert len(ends) == 2 and {e["channel"] for e in ends} == {"direct-tcpip"}


def test_unix_socket_forward_from_the_client(shared_setup: Setup, tmp_path: Path) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    remote, local = tmp_path / "remote.sock", tmp_path / "local.sock"
    echo = UpperEcho.unix(remote)  # e.g. the node's docker or podman socket
    client = forward_in_background(setup, "-L", f"{local}:{remote}")
    try:
        sock = connect_when_listening(client, str(local))
        assert round_trip(sock, b"GET /containers/json") == b"GET /CONTAINERS/JSON"
        [row] = seen.ended(1, kind="forward")
    finally:
        client.stop()
        echo.close()
    assert str(row["command"]).startswith(f"direct-streamlocal {remote} from ")
    assert (row["bytes_in"], row["bytes_out"]) == (20, 20)


def test_unix_socket_forward_from_the_node(shared_setup: Setup, tmp_path: Path) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    remote, local = tmp_path / "remote.sock", tmp_path / "local.sock"
    echo = UpperEcho.unix(local)  # e.g. the user's gpg-agent socket
    client = forward_in_background(setup, "-R", f"{remote}:{local}")
    try:
        sock = connect_when_listening(client, str(remote))
        assert round_trip(sock, b"KEYINFO --list") == b"KEYINFO --LIST"
        [row] = seen.ended(1, kind="forward")
    finally:
        client.stop()
        echo.close()
    assert row["command"] == f"forwarded-streamlocal {remote} from node.example.com"
    assert (row["bytes_in"], row["bytes_out"]) == (14, 14)
    assert [e["listen"] for e in seen.audit_events("remote_forward")] == [str(remote)]


def test_remote_forward_added_and_cancelled_through_a_control_master(
    shared_setup: Setup, tmp_path: Path
) -> None:
    setup, seen = shared_setup, Since(shared_setup.cli)
    echo = UpperEcho.tcp()
    remote_port = free_port()
    control = ["-o", f"ControlPath {tmp_path / 'cm'}", "-p", str(setup.node.port)]
    master = Background(
        setup.client.argv("-N", "-o", "ControlMaster yes", *control, setup.target()),
        setup.client.env(),
    )
    spec = f"127.0.0.1:{remote_port}:127.0.0.1:{echo.port}"
    try:
        eventually(lambda: master.alive() and (tmp_path / "cm").exists(), what="the master")
        for op in ("forward", "cancel"):
            out = setup.client.run(*control, "-O", op, "-R", spec, setup.target())
            assert out.returncode == 0, out.stderr.decode()
            if op == "forward":
                sock = connect_when_listening(master, ("127.0.0.1", remote_port))
                assert round_trip(sock, b"added later") == b"ADDED LATER"
        # cancel-tcpip-forward reaches the node: soon nothing listens there.
        eventually(lambda: refused(("127.0.0.1", remote_port)), what="the node's listener gone")
        master.alive()
    finally:
        master.stop()
        echo.close()
    [row] = seen.ended(1, kind="forward")
    assert str(row["command"]).startswith(f"forwarded-tcpip 127.0.0.1:{remote_port} from ")
