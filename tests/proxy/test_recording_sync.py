"""Live recordings reach the disk (``proxy_service.recording_sync``), seen from outside.

A real proxy runs under ``strace -f -y`` (every fsync and fdatasync, with the
path of the descriptor) while a real session through a real sshd prints
steadily; the calls on the session's recording are counted per second. A
power cut cannot be simulated here: the trace proves the syncs happen, in
the right order against the index's commits; the kill test below proves
that what is on the disk is always consistent.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.recording import RecordingReader, Stream
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.harness.proxy import ProxyProcess
from tests.proxy.conftest import login_and_route

# pid, epoch time, call, descriptor and its path; an interrupted call's first half
# (`<unfinished ...>`) has them too, its `resumed` half does not.
CALL = re.compile(r"^\d+\s+(?P<t>\d+\.\d+) (?P<call>fsync|fdatasync)\(\d+<(?P<path>[^>]*)>")
STEADY = "for i in $(seq 1 40); do echo line-$i; sleep 0.1; done"  # about 4 s, 40 writes
# A MiB and a bit four times a second: a flush for each (the writer's buffer is full).
PULSES = "for i in $(seq 1 10); do head -c 1100000 /dev/zero; sleep 0.25; done"
INDEX_ENTRY_SIZE = 20  # recording.format.INDEX_ENTRY: offset, time, seq


@dataclass
class Call:
    t: float
    call: str
    path: str


def read_trace(path: Path) -> list[Call]:
    calls = []
    for line in path.read_text(errors="replace").splitlines():
        m = CALL.match(line)
        if m:
            calls.append(Call(float(m["t"]), m["call"], m["path"]))
    return calls


class TracedProxy:
    """``auditor proxy`` under strace; stopped with SIGTERM to the proxy itself."""

    def __init__(self, ca: AuditorCli, directory: Path, node_port: int, sync: str | None) -> None:
        if shutil.which("strace") is None:
            pytest.fail("strace is not installed (scripts/test installs it)")
        self.trace = directory / "strace.txt"
        directory.mkdir(parents=True)
        prefix = ("strace", "-f", "-y", "-ttt", "--seccomp-bpf")
        prefix += ("-e", "trace=fsync,fdatasync", "-o", str(self.trace))
        options = f"  recording_sync: {sync}\n" if sync is not None else ""
        self.proxy = ProxyProcess.start(
            ca.data_dir, directory, "", {NODE: node_port}, options, prefix=prefix
        )

    def stop(self) -> list[Call]:
        """The proxy stopped (its recordings sealed), and every call it made."""
        strace = self.proxy.proc
        if strace.poll() is None:
            children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children").read_text()
            for pid in children.split():
                os.kill(int(pid), signal.SIGTERM)
            strace.wait(30)
        return read_trace(self.trace)


@dataclass
class Peers:
    ca: AuditorCli
    agent: SshAgent
    client: SshClient
    node_port: int
    tmp_path: Path
    started: list[Callable[[], object]] = field(default_factory=list)  # stops, run after

    def proxy(self, sync: str | None = None) -> TracedProxy:
        traced = TracedProxy(self.ca, self.tmp_path / "proxy", self.node_port, sync)
        self.started.append(traced.stop)
        login_and_route(self.ca, self.agent, traced.proxy, self.client)
        return traced

    def session(self, command: str) -> dict[str, object]:
        """``command`` run on the node through the proxy; its row once ended."""
        out = self.client.run("-p", str(self.node_port), f"{login_name()}@{NODE}", command)
        assert out.returncode == 0, out.stderr
        rows = eventually(
            lambda: [
                r
                for r in json.loads(self.ca.run("sessions", "--json").stdout)
                if r["command"] == command and r["status"] == "ended"
            ],
            timeout=30,
            what="the session's row ended",
        )
        return dict(rows[0])


@pytest.fixture
def peers(
    ca: AuditorCli, agent: SshAgent, start_node: StartNode, ssh_client: SshClient, tmp_path: Path
) -> Iterator[Peers]:
    peers = Peers(ca, agent, ssh_client, start_node().port, tmp_path)
    yield peers
    for stop in peers.started:  # nothing left running by a test that failed half-way
        stop()


def on(calls: list[Call], path: str) -> list[Call]:
    return [c for c in calls if c.path == path]


def flushes(recording: str) -> int:
    """How many times the writer wrote the file out: one .idx entry each, after the first."""
    return os.path.getsize(recording + ".idx") // INDEX_ENTRY_SIZE - 1


def growth(calls: list[Call], recording: str) -> tuple[Call, list[Call], Call]:
    """The recording's creation (fsync), its syncs while it grew, and its seal's."""
    mine = on(calls, recording)
    assert mine, "no sync call on the recording at all"
    assert mine[0].call == "fsync", mine[0]
    assert all(c.call == "fdatasync" for c in mine[1:]), mine
    assert len(mine) >= 2, mine
    return mine[0], mine[1:-1], mine[-1]


def test_a_growing_recording_reaches_the_disk_every_second_not_every_write(
    peers: Peers,
) -> None:
    traced = peers.proxy()  # the default: recording_sync 1s
    row = peers.session(STEADY)
    ended_seen = time.time()
    pulses_row = peers.session(PULSES)
    calls = traced.stop()
    rec = str(row["recording_path"])
    wal = [c for c in calls if c.path.endswith("/index.db-wal")]
    created, grew, sealed = growth(calls, rec)

    # Created: the file, its sidecar and the directories naming them, then the row.
    parent = str(Path(rec).parent)
    fsyncs = [c.path for c in calls if created.t <= c.t and c.call == "fsync"][:4]
    assert fsyncs[:2] == [rec, rec + ".idx"], calls
    assert sorted(fsyncs[2:]) == [str(Path(parent).parent), parent], calls
    assert any(created.t <= w.t < grew[0].t for w in wal), "start row not committed durably"

    # While it grew (about 4 s, 40 writes): about once a second, the .idx after each.
    times = [created.t, *(c.t for c in grew), sealed.t]
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(times)]
    per_second = [
        sum(1 for t in times if created.t + k <= t < created.t + k + 1)
        for k in range(int(sealed.t - created.t))
    ]
    # About a second apart (a tick of a loaded machine's loop may come late), and at
    # least as many as the seconds it grew for.
    assert len(grew) >= 3 and max(gaps) < 2.0, (gaps, per_second)
    assert len(times) >= int(sealed.t - created.t) + 1, (gaps, per_second)
    assert len(times) <= sealed.t - created.t + 3 < 20, f"{len(times)} syncs, 40 writes: {gaps}"
    idx = on(calls, rec + ".idx")
    assert len(idx) == len(times), (idx, times)
    assert all(i.t >= t for i, t in zip(idx, times, strict=True))

    # Sealed on the disk before the row said ended; byte counts meanwhile cost no sync.
    assert not [w for w in wal if grew[0].t <= w.t < sealed.t], "a row committed mid-session"
    assert any(sealed.t <= w.t <= ended_seen for w in wal), "end row not committed durably"
    # So is the signed anchor's sidecar (written then renamed), and its directory.
    end_row = min(w.t for w in wal if w.t >= sealed.t)
    anchor = [c for c in calls if c.path == rec + ".anchor.tmp" and c.call == "fsync"]
    assert anchor and anchor[0].t <= end_row, calls
    assert any(c.path == parent and anchor[0].t <= c.t <= end_row for c in calls), calls

    # Flushes four times a second are synced once a second, not each.
    pulses = str(pulses_row["recording_path"])
    created, grew, sealed = growth(calls, pulses)
    written = flushes(pulses)
    assert written >= 10, written
    assert len(grew) <= sealed.t - created.t + 1, (len(grew), written)


def test_zero_syncs_after_every_flush(peers: Peers) -> None:
    traced = peers.proxy("0")
    row = peers.session(PULSES)
    calls = traced.stop()
    rec = str(row["recording_path"])
    _, grew, _ = growth(calls, rec)
    written = flushes(rec)
    # A sync for each flush and the seal's (one still under way when the next
    # flush is written covers both: a slow disk may merge a few).
    assert written >= 10, written
    assert len(grew) + 1 >= written - 1, (len(grew), written)


def test_off_makes_no_sync_calls(peers: Peers) -> None:
    traced = peers.proxy("off")
    row = peers.session(STEADY)
    calls = traced.stop()
    recordings = str(peers.ca.data_dir / "recordings")
    assert row["recording_path"]
    assert not [c for c in calls if c.path.startswith(recordings)], calls


def test_a_proxy_killed_at_random_points_leaves_every_recording_verifiable(
    peers: Peers,
) -> None:
    """SIGKILL mid-session, a few times at seeded random points: after a restart
    every row is interrupted and every recording verifies up to its last record."""
    rng = random.Random(25)
    killed: list[str] = []
    for i in range(3):
        proxy = ProxyProcess.start(
            peers.ca.data_dir, peers.tmp_path / f"proxy-{i}", "", {NODE: peers.node_port}
        )
        peers.started.append(proxy.stop)
        login_and_route(peers.ca, peers.agent, proxy, peers.client)
        marker = f"crash-{i}"
        command = f"echo {marker}; for i in $(seq 1 60); do echo tick-$i; sleep 0.1; done"
        session = subprocess.Popen(
            peers.client.argv("-p", str(peers.node_port), f"{login_name()}@{NODE}", command),
            env=peers.client.env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert session.stdout is not None and session.stderr is not None
            first = session.stdout.readline()
            assert first == f"{marker}\n".encode(), session.stderr.read()  # the row exists
            time.sleep(rng.uniform(0.0, 4.0))
            os.kill(proxy.proc.pid, signal.SIGKILL)
            proxy.proc.wait()
        finally:
            session.kill()
            session.wait()
        killed.append(command)
    # The next start marks what the dead proxies left live interrupted.
    ProxyProcess.start(peers.ca.data_dir, peers.tmp_path / "proxy-after", "", {}).stop()
    rows = {r["command"]: r for r in json.loads(peers.ca.run("sessions", "--json").stdout)}
    assert sorted(rows) == sorted(killed)
    assert {r["status"] for r in rows.values()} == {"interrupted"}, rows
    checked = peers.ca.run("verify", check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.endswith("3 recordings checked, 0 damaged\n"), checked.stdout
    for command, row in rows.items():
        reader = RecordingReader(Path(str(row["recording_path"])))
        output = b"".join(r.data for r in reader.records() if r.stream == Stream.OUTPUT)
        marker = command.split(";")[0].removeprefix("echo ")
        assert output.startswith(f"{marker}\r\n".encode()) or output.startswith(
            f"{marker}\n".encode()
        ), output[:80]
        assert row["recording_hash"] == reader.summary().final_hash
