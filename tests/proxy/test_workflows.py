"""The workflow matrix: what users run with OpenSSH's own tools, through the recording proxy.

One row per workflow; each moves real data, checks it arrived intact, and
finds the row the index keeps for it. The rows share one node and proxy
(``shared_setup``) and look only at what happened since they began. The
other rows live beside this file: remote, SOCKS and socket forwards in
test_forwards.py, X11 in test_x11.py, keepalives in test_keepalive.py, a node
without sftp in test_refusals.py, MaxStartups storms in
test_maxstartups_storm.py, pty shells and agent forwarding in test_channels.py.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.background import Background
from tests.harness.echo import UpperEcho, round_trip
from tests.harness.eventually import eventually
from tests.harness.openssh import free_port, require, require_tool
from tests.harness.since import Row, Since
from tests.proxy.conftest import Setup


@dataclass
class Workflow:
    """What a row works with: the shared setup, its own directory, what it has done."""

    setup: Setup
    tmp_path: Path

    def __post_init__(self) -> None:
        self.since = Since(self.setup.cli)
        self.ended = self.since.ended
        self.audit_events = self.since.audit_events


def run(argv: list[str], setup: Setup, **env: str) -> subprocess.CompletedProcess[bytes]:
    out = subprocess.run(
        argv,
        env={**setup.client.env(), **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, f"{argv[0]} exited {out.returncode}: {out.stderr.decode()}"
    return out


def ssh_command(setup: Setup) -> str:
    """The `ssh` that rsync and git run, with our ssh_config."""
    return f"{require('ssh')} -F {setup.client.write()} -p {setup.node.port}"


def payload(path: Path, size: int = 3 * 1024 * 1024) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def scp(w: Workflow, *flags: str) -> list[Row]:
    setup, tmp_path = w.setup, w.tmp_path
    data = payload(tmp_path / "up.bin")
    remote = f"{setup.target()}:{tmp_path}/on-node.bin"
    config = str(setup.client.write())
    for src, dst in ((str(tmp_path / "up.bin"), remote), (remote, str(tmp_path / "down.bin"))):
        run(["scp", *flags, "-F", config, "-P", str(setup.node.port), src, dst], setup)
    assert (tmp_path / "on-node.bin").read_bytes() == data
    assert (tmp_path / "down.bin").read_bytes() == data
    return w.ended(2)


def scp_sftp_mode(w: Workflow) -> None:
    rows = scp(w)
    assert [r["command"] for r in rows] == ["subsystem:sftp"] * 2
    ops = {(e["op"], e.get("bytes")) for e in w.audit_events("sftp")}
    assert {("put", 3 * 1024 * 1024), ("get", 3 * 1024 * 1024)} <= ops, ops


def scp_legacy(w: Workflow) -> None:
    rows = scp(w, "-O")
    assert [str(r["command"]).split()[:2] for r in rows] == [["scp", "-t"], ["scp", "-f"]]
    assert int(str(rows[0]["bytes_in"])) >= 3 * 1024 * 1024  # file contents are recorded
    assert int(str(rows[1]["bytes_out"])) >= 3 * 1024 * 1024


def sftp_batch(w: Workflow) -> None:
    setup, tmp_path = w.setup, w.tmp_path
    data = payload(tmp_path / "up.bin")
    batch = tmp_path / "batch"
    batch.write_text(
        f"mkdir {tmp_path}/dir\nput {tmp_path}/up.bin {tmp_path}/dir/a.bin\n"
        f"rename {tmp_path}/dir/a.bin {tmp_path}/dir/b.bin\n"
        f"get {tmp_path}/dir/b.bin {tmp_path}/down.bin\n"
    )
    config = str(setup.client.write())
    run(["sftp", "-F", config, "-P", str(setup.node.port), "-b", str(batch), setup.target()], setup)
    assert (tmp_path / "down.bin").read_bytes() == data
    [row] = w.ended(1)
    assert row["command"] == "subsystem:sftp"
    ops = [(e["op"], e["path"]) for e in w.audit_events("sftp")]
    assert ops == [
        ("mkdir", f"{tmp_path}/dir"),
        ("put", f"{tmp_path}/dir/a.bin"),
        ("rename", f"{tmp_path}/dir/a.bin"),
        ("get", f"{tmp_path}/dir/b.bin"),
    ], ops


def rsync(w: Workflow) -> None:
    setup, tmp_path = w.setup, w.tmp_path
    tool = require_tool("rsync", "rsync")
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    files = {"a.bin": payload(src / "a.bin"), "sub/b.txt": b"hello rsync\n"}
    (src / "sub" / "b.txt").write_bytes(files["sub/b.txt"])
    ssh = ssh_command(setup)
    run([tool, "-a", "-e", ssh, f"{src}/", f"{setup.target()}:{tmp_path}/on-node/"], setup)
    run(
        [tool, "-a", "-e", ssh, f"{setup.target()}:{tmp_path}/on-node/", f"{tmp_path}/back/"], setup
    )
    for name, data in files.items():
        assert (tmp_path / "on-node" / name).read_bytes() == data
        assert (tmp_path / "back" / name).read_bytes() == data
    rows = w.ended(2)
    assert all(str(r["command"]).startswith("rsync --server") for r in rows), rows


def git_push_and_clone(w: Workflow) -> None:
    setup, tmp_path = w.setup, w.tmp_path
    git = require_tool("git", "git")
    env = {
        "GIT_SSH_COMMAND": ssh_command(setup),
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    bare = tmp_path / "on-node.git"
    run([git, "init", "-q", "--bare", "-b", "main", str(bare)], setup, **env)
    work = tmp_path / "work"
    run([git, "init", "-q", "-b", "main", str(work)], setup, **env)
    (work / "README").write_text("pushed through the proxy\n")
    run([git, "-C", str(work), "add", "README"], setup, **env)
    run([git, "-C", str(work), "commit", "-q", "-m", "first"], setup, **env)
    url = f"ssh://{setup.target()}:{setup.node.port}{bare}"
    run([git, "-C", str(work), "push", "-q", url, "main"], setup, **env)
    run([git, "clone", "-q", url, str(tmp_path / "clone")], setup, **env)
    assert (tmp_path / "clone" / "README").read_text() == "pushed through the proxy\n"
    rows = w.ended(2)
    commands = [str(r["command"]) for r in rows]
    assert commands == [f"git-receive-pack '{bare}'", f"git-upload-pack '{bare}'"], commands


def local_forward(w: Workflow) -> None:
    setup = w.setup
    echo = UpperEcho.tcp()
    echo_port, local_port = echo.port, free_port()
    client = Background(
        setup.client.argv(
            "-N",
            "-o",
            "ExitOnForwardFailure yes",
            "-p",
            str(setup.node.port),
            "-L",
            f"127.0.0.1:{local_port}:127.0.0.1:{echo_port}",
            setup.target(),
        ),
        setup.client.env(),
    )
    try:

        def connected() -> socket.socket | None:
            client.alive()
            try:
                return socket.create_connection(("127.0.0.1", local_port))
            except ConnectionRefusedError:
                return None

        data = os.urandom(256 * 1024).hex().encode()
        assert round_trip(eventually(connected, what="ssh -L listening"), data) == data.upper()
        [row] = w.ended(1, kind="forward")
    finally:
        client.stop()
        echo.close()
    assert str(row["command"]).startswith(f"direct-tcpip 127.0.0.1:{echo_port} from 127.0.0.1:")
    assert (row["bytes_in"], row["bytes_out"]) == (len(data), len(data))


def control_master(w: Workflow) -> None:
    setup, tmp_path = w.setup, w.tmp_path
    path = tmp_path / "cm.sock"
    options = ["-o", f"ControlPath {path}", "-p", str(setup.node.port)]
    master = Background(
        setup.client.argv("-N", "-o", "ControlMaster yes", *options, setup.target()),
        setup.client.env(),
    )
    try:
        eventually(lambda: master.alive() and path.exists(), what="the master's socket")
        procs = [
            subprocess.Popen(
                setup.client.argv("-o", "ControlMaster no", *options, setup.target(), cmd),
                env=setup.client.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for cmd in ("echo first; sleep 1", "echo second; sleep 1")
        ]
        outs = [p.communicate(timeout=60) for p in procs]
        assert [(p.returncode, o) for p, (o, _) in zip(procs, outs, strict=True)] == [
            (0, b"first\n"),
            (0, b"second\n"),
        ], [e.decode() for _, e in outs]
        run(setup.client.argv(*options, "-O", "exit", setup.target()), setup)
    finally:
        master.stop()
    rows = w.ended(2)
    # Two sessions, one proxied connection: they were multiplexed.
    assert {r["command"] for r in rows} == {"echo first; sleep 1", "echo second; sleep 1"}
    assert len({r["connection_id"] for r in rows}) == 1


def parallel_execs(w: Workflow) -> None:
    setup = w.setup
    blobs = [os.urandom(64 * 1024) for _ in range(30)]
    procs = [
        subprocess.Popen(
            setup.client.argv("-p", str(setup.node.port), setup.target(), "sha256sum"),
            env=setup.client.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in blobs
    ]
    for proc, blob in zip(procs, blobs, strict=True):
        out, err = proc.communicate(blob, timeout=120)
        assert proc.returncode == 0, err.decode()
        assert out.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    rows = w.ended(30)
    assert {r["command"] for r in rows} == {"sha256sum"}
    assert sorted(int(str(r["bytes_in"])) for r in rows) == [64 * 1024] * 30


WORKFLOWS: dict[str, Callable[[Workflow], None]] = {
    "scp": scp_sftp_mode,
    "scp -O": scp_legacy,
    "sftp -b": sftp_batch,
    "rsync": rsync,
    "git push, clone": git_push_and_clone,
    "ssh -L": local_forward,
    "ControlMaster": control_master,
    "30 parallel execs": parallel_execs,
}


@pytest.mark.parametrize("workflow", list(WORKFLOWS))
def test_workflow_through_the_proxy(shared_setup: Setup, tmp_path: Path, workflow: str) -> None:
    WORKFLOWS[workflow](Workflow(shared_setup, tmp_path))
