"""The proxy as a component: start/stop in the caller's loop, no globals, clean state."""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from pathlib import Path

from auditor.config import Config, HostPort
from auditor.index import SessionIndex
from auditor.proxy.service import STATE_FILE, RecordingProxy


def test_two_proxies_run_in_one_loop_and_stop_cleanly(tmp_path: Path) -> None:
    async def scenario() -> None:
        cfg = replace(Config(), listen_addr=HostPort("127.0.0.1", 0))
        a = RecordingProxy(cfg, tmp_path / "a")
        b = RecordingProxy(cfg, tmp_path / "b")
        async with a, b:
            assert a.address and b.address and a.address != b.address
            state = json.loads((tmp_path / "a" / STATE_FILE).read_text())
            assert state["listen"] == f"127.0.0.1:{a.address[1]}"
            reader, writer = await asyncio.open_connection(*a.address)
            banner = await reader.readline()
            assert banner.startswith(b"SSH-2.0-")
            writer.close()
        assert not (tmp_path / "a" / STATE_FILE).exists()
        assert (tmp_path / "a" / "ca" / "host_ca").exists()  # CAs made on first use

    asyncio.run(scenario())


def test_sessions_left_live_by_a_dead_proxy_become_interrupted(tmp_path: Path) -> None:
    with SessionIndex.open(tmp_path) as index:
        sid = index.start_session(user="joe", login="root", node="n")
        # As if written by a process that has exited: same host, a PID no one has.
        gone = f"{socket.gethostname()}:{2**22 + 12345}:1"
        index.conn.execute("UPDATE sessions SET owner = ? WHERE id = ?", [gone, sid])

    async def scenario() -> None:
        cfg = replace(Config(), listen_addr=HostPort("127.0.0.1", 0))
        async with RecordingProxy(cfg, tmp_path):
            pass

    asyncio.run(scenario())
    with SessionIndex.open(tmp_path) as index:
        assert index.get_session(sid).status == "interrupted"


def test_a_taken_port_is_one_clear_error_and_leaves_nothing_running(tmp_path: Path) -> None:
    from auditor.errors import AuditorError

    async def scenario() -> None:
        cfg = replace(Config(), listen_addr=HostPort("127.0.0.1", 0))
        async with RecordingProxy(cfg, tmp_path / "a") as first:
            assert first.address
            taken = replace(cfg, listen_addr=HostPort("127.0.0.1", first.address[1]))
            second = RecordingProxy(taken, tmp_path / "b")
            try:
                await second.start()
            except AuditorError as exc:
                assert f"cannot listen on 127.0.0.1:{first.address[1]}" in str(exc)
            else:
                raise AssertionError("a second proxy started on a taken port")
            assert not hasattr(second, "text")  # no extraction child left behind
            assert not (tmp_path / "b" / STATE_FILE).exists()

    asyncio.run(scenario())
