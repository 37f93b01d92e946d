"""TCP and socket forwards through the recording proxy: bridged, each connection audited."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

from tests.harness.background import Background
from tests.harness.echo import HttpServer, UpperEcho, round_trip
from tests.harness.eventually import eventually
from tests.harness.openssh import free_port, require_tool
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


def audit_events(setup: Setup, event: str) -> list[dict[str, object]]:
    path = setup.cli.data_dir / "audit.log"
    return [
        e for line in path.read_text().splitlines() if (e := json.loads(line))["event"] == event
    ]


def ended_forwards(setup: Setup, n: int) -> list[dict[str, object]]:
    def rows() -> list[dict[str, object]]:
        found = [
            r
            for r in json.loads(setup.cli.run("sessions", "--json").stdout)
            if r["kind"] == "forward" and r["status"] == "ended"
        ]
        return found if len(found) >= n else []

    return eventually(rows, what=f"{n} ended forward rows in the index")


def test_remote_forward_on_a_fixed_port(setup: Setup) -> None:
    echo = UpperEcho.tcp()
    remote_port = free_port()
    client = forward_in_background(setup, "-R", f"127.0.0.1:{remote_port}:127.0.0.1:{echo.port}")
    try:
        sock = connect_when_listening(client, ("127.0.0.1", remote_port))
        origin = "{}:{}".format(*sock.getsockname())
        assert round_trip(sock, b"reverse tunnel " * 1000) == b"REVERSE TUNNEL " * 1000
        [row] = ended_forwards(setup, 1)
    finally:
        client.stop()
        echo.close()
    listen = f"127.0.0.1:{remote_port}"
    assert row["command"] == f"forwarded-tcpip {listen} from {origin}"
    assert (row["bytes_in"], row["bytes_out"]) == (15000, 15000)
    assert row["node"] == "node.example.com" and row["user"] and row["end"]
    assert [e["listen"] for e in audit_events(setup, "remote_forward")] == [listen]
    [end] = audit_events(setup, "port_forward_end")
    assert (end["channel"], end["dest"], end["origin"]) == ("forwarded-tcpip", listen, origin)
    assert (end["bytes_up"], end["bytes_down"]) == (15000, 15000)


def test_remote_forward_on_port_0_reports_the_port_the_node_chose(setup: Setup) -> None:
    echo = UpperEcho.tcp()
    client = forward_in_background(setup, "-R", f"0:127.0.0.1:{echo.port}")
    try:
        line = client.wait_line("Allocated port")
        port = int(re.search(r"Allocated port (\d+)", line).group(1))  # type: ignore[union-attr]
        for i in range(2):
            sock = connect_when_listening(client, ("127.0.0.1", port))
            assert round_trip(sock, f"dynamic {i}".encode()) == f"DYNAMIC {i}".encode()
        rows = ended_forwards(setup, 2)
    finally:
        client.stop()
        echo.close()
    assert all(str(r["command"]).startswith(f"forwarded-tcpip localhost:{port} ") for r in rows)
    assert [e["listen"] for e in audit_events(setup, "remote_forward")] == [f"localhost:{port}"]


def test_dynamic_forward_serves_curl_over_socks_and_audits_each_connection(
    setup: Setup, tmp_path: Path
) -> None:
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
        rows = ended_forwards(setup, 2)
    finally:
        client.stop()
        web.close()
    # The node resolved the name (socks5-hostname): the row keeps the name asked for.
    assert all(str(r["command"]).startswith(f"direct-tcpip localhost:{web.port} ") for r in rows)
    assert all(int(str(r["bytes_out"])) > 2300 for r in rows)
    ends = audit_events(setup, "port_forward_end")
    assert len(ends) == 2 and {e["channel"] for e in ends} == {"direct-tcpip"}


def test_unix_socket_forward_from_the_client(setup: Setup, tmp_path: Path) -> None:
    remote, local = tmp_path / "remote.sock", tmp_path / "local.sock"
    echo = UpperEcho.unix(remote)  # e.g. the node's docker or podman socket
    client = forward_in_background(setup, "-L", f"{local}:{remote}")
    try:
        sock = connect_when_listening(client, str(local))
        assert round_trip(sock, b"GET /containers/json") == b"GET /CONTAINERS/JSON"
        [row] = ended_forwards(setup, 1)
    finally:
        client.stop()
        echo.close()
    assert str(row["command"]).startswith(f"direct-streamlocal {remote} from ")
    assert (row["bytes_in"], row["bytes_out"]) == (20, 20)


def test_unix_socket_forward_from_the_node(setup: Setup, tmp_path: Path) -> None:
    remote, local = tmp_path / "remote.sock", tmp_path / "local.sock"
    echo = UpperEcho.unix(local)  # e.g. the user's gpg-agent socket
    client = forward_in_background(setup, "-R", f"{remote}:{local}")
    try:
        sock = connect_when_listening(client, str(remote))
        assert round_trip(sock, b"KEYINFO --list") == b"KEYINFO --LIST"
        [row] = ended_forwards(setup, 1)
    finally:
        client.stop()
        echo.close()
    assert row["command"] == f"forwarded-streamlocal {remote} from node.example.com"
    assert (row["bytes_in"], row["bytes_out"]) == (14, 14)
    assert [e["listen"] for e in audit_events(setup, "remote_forward")] == [str(remote)]
