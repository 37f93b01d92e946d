"""pty shells, sftp, port forwards and agent forwarding, bridged and recorded."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.harness.openssh import login_name
from tests.harness.tmux import Tmux
from tests.proxy.conftest import Setup


def ended_sessions(setup: Setup) -> list[dict[str, object]]:
    rows = json.loads(setup.cli.run("sessions", "--json").stdout)
    return [r for r in rows if r["status"] == "ended"]


def wait_ended(setup: Setup, n: int = 1, timeout: float = 10) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = ended_sessions(setup)
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"sessions: {setup.cli.run('sessions', '--json').stdout}")


def audit_events(setup: Setup) -> list[dict[str, object]]:
    path = setup.cli.data_dir / "audit.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_interactive_pty_session_output_and_resize_are_recorded(setup: Setup) -> None:
    tmux = Tmux(100, 30)
    try:
        tmux.start(
            setup.client.argv("-tt", "-p", str(setup.node.port), setup.target()),
            env=setup.client.env(),
        )
        tmux.wait_for(lambda s: s.rstrip().endswith(("#", "$")))
        tmux.type("printf 'hello-%s\\n' recorded-pty; stty size\n")
        tmux.wait_for("hello-recorded-pty")
        tmux.wait_for("30 100")
        tmux.resize(120, 40)
        time.sleep(0.3)
        tmux.type("stty size\n")
        tmux.wait_for("40 120")
        tmux.type("exit\n")
        assert tmux.wait_for_exit() == "exit 0"
    finally:
        tmux.kill()
    row = wait_ended(setup)[0]
    text = setup.cli.run("export", str(row["id"]), "--format", "text").stdout
    assert "hello-recorded-pty" in text
    cast = setup.cli.run("export", str(row["id"]), "--format", "asciicast").stdout.splitlines()
    header = json.loads(cast[0])
    assert (header["width"], header["height"]) == (100, 30)
    assert any(json.loads(line)[1] == "r" and json.loads(line)[2] == "120x40" for line in cast[1:])


def test_sftp_put_and_get_are_bridged_and_logged(setup: Setup, tmp_path: Path) -> None:
    src = tmp_path / "upload.bin"
    src.write_bytes(bytes(range(256)) * 4096)
    remote = tmp_path / "remote.bin"
    back = tmp_path / "back.bin"
    batch = tmp_path / "batch"
    batch.write_text(f"put {src} {remote}\nget {remote} {back}\n")
    out = subprocess.run(
        [
            "sftp",
            "-F",
            str(setup.client.write()),
            "-P",
            str(setup.node.port),
            "-b",
            str(batch),
            setup.target(),
        ],
        capture_output=True,
        env=setup.client.env(),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode()
    assert back.read_bytes() == src.read_bytes()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ops = {(e.get("op"), e.get("bytes")) for e in audit_events(setup) if e["event"] == "sftp"}
        if ("put", 1048576) in ops and ("get", 1048576) in ops:
            break
        time.sleep(0.1)
    assert ("put", 1048576) in ops and ("get", 1048576) in ops, ops
    row = wait_ended(setup)[0]
    assert row["command"] == "subsystem:sftp"
    # The recording keeps operations, not a second copy of the file.
    recording = Path(str(row["recording_path"]))
    assert recording.stat().st_size < 64 * 1024


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return srv, t


def test_local_port_forward_through_the_proxy(setup: Setup) -> None:
    srv, _ = _echo_server()
    local = socket.socket()
    local.bind(("127.0.0.1", 0))
    local_port = local.getsockname()[1]
    local.close()
    target_port = srv.getsockname()[1]
    proc = subprocess.Popen(
        setup.client.argv(
            "-N",
            "-o",
            "ExitOnForwardFailure yes",
            "-p",
            str(setup.node.port),
            "-L",
            f"127.0.0.1:{local_port}:127.0.0.1:{target_port}",
            setup.target(),
        ),
        env=setup.client.env(),
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", local_port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        with conn:
            conn.sendall(b"forwarded through the proxy")
            assert conn.recv(100) == b"FORWARDED THROUGH THE PROXY"
    finally:
        proc.terminate()
        proc.wait(10)
        srv.close()
    events = [e for e in audit_events(setup) if e["event"] == "port_forward"]
    assert events and events[0]["dest"] == f"127.0.0.1:{target_port}"


def test_agent_is_forwarded_onward_when_the_client_asks(setup: Setup) -> None:
    code, out, err = setup.ssh("-A", setup.target(), "ssh-add -L")
    assert code == 0, err.decode()
    assert f"auditor:{login_name()}".encode() in out


def test_agent_not_forwarded_onward_unless_asked(setup: Setup) -> None:
    _, out, _ = setup.ssh("-o", "ForwardAgent no", setup.target(), "ssh-add -L; echo rc=$?")
    assert b"rc=2" in out  # no agent on the node
