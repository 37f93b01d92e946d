"""The inner connection: the user's SSH session terminated here and bridged to the node.

Every session channel the client opens is opened on the node first; bytes
flow straight through with one append to the recording on the way. Output
to the client is batched per loop turn (or per 128 KiB of bulk output)
because nested SSH splits packets. A refusal from the node ends the channel
with a line saying what was refused. Forwarded connections are spliced, not
recorded (forwards.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncssh
from asyncssh.packet import String, UInt32

from auditor.errors import AuditorError
from auditor.proxy import channels, failures
from auditor.proxy.connection import ProxiedConnection
from auditor.proxy.recorder import ChannelRecording
from auditor.proxy.sftp_log import SftpLog
from auditor.proxy.transports import EARLY_BYTES

log = logging.getLogger("auditor.proxy")
# What OpenSSH's ssh exits with when the node refuses the session straight.
REFUSED_STATUS = 255
TERMINATED = "session terminated by an auditor"
X11_REFUSED = "X11 forwarding is not bridged by the recording proxy; the session goes on without it"


class _NodeSide(asyncssh.SSHClientSession[bytes]):
    """The node's end of one bridged session channel."""

    def __init__(self) -> None:
        self.bridge: SessionBridge | None = None
        self.early: list[tuple[str, Any]] = []

    def _to(self, what: str, *args: Any) -> None:
        if self.bridge is None:
            self.early.append((what, args))
        else:
            getattr(self.bridge, what)(*args)

    def data_received(self, data: bytes, datatype: int | None) -> None:
        self._to("node_data", data, datatype)

    def eof_received(self) -> bool:
        self._to("node_eof")
        return True

    def exit_status_received(self, status: int) -> None:
        self._to("node_exit_status", status)

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self._to("node_exit_signal", signal, core_dumped, msg, lang)

    def connection_lost(self, exc: Exception | None) -> None:
        self._to("node_closed", exc)

    def pause_writing(self) -> None:
        self._to("node_pause")

    def resume_writing(self) -> None:
        self._to("node_resume")


class SessionBridge(asyncssh.SSHServerSession[bytes]):
    """The client's end: a session channel on the inner connection."""

    def __init__(
        self,
        conn: ProxiedConnection,
        node_chan: Any,
        node_side: _NodeSide,
        recording: ChannelRecording,
    ) -> None:
        self.conn = conn
        self.node_chan = node_chan
        self.recording = recording
        self.chan: Any = None
        self.pending: list[bytes] = []
        self.pending_len = 0
        self.flush_scheduled = False
        self.exit_status: int | None = None
        self.exit_signal: tuple[str, bool, str, str] | None = None
        self.sftp: SftpLog | None = None
        self.closed = False
        self.client_closing = False
        self.node_side = node_side

    # client → node
    def connection_made(self, chan: Any) -> None:
        self.chan = chan
        channels.hold_client_close(chan, self._client_closed)
        channels.refuse_x11(chan, self._x11_refused)
        self.node_side.bridge = self
        self.recording.on_terminate = self.terminate
        # A new session on an open connection: the input policy in force now.
        self.recording.input_mode = self.conn.context.current().config.session_recording_input
        for what, args in self.node_side.early:
            getattr(self, what)(*args)
        self.node_side.early.clear()

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        cols, rows = term_size[0], term_size[1]
        self.recording.resize(cols, rows)
        self.recording.pty_started()
        return True

    def shell_requested(self) -> bool:
        self.recording.marker("shell")
        self._start("a shell", b"shell")
        return True

    def exec_requested(self, command: str) -> bool:
        self.recording.marker(f"exec {command}")
        self.recording.set_command(command)
        self._start(f"the command {command!r}", b"exec", String(command))
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        self.recording.marker(f"subsystem {subsystem}")
        self.recording.set_command(f"subsystem:{subsystem}")
        if subsystem == "sftp":
            # sftp contents are files: log operations and byte counts, not the bytes.
            self.sftp = SftpLog(self.recording, self.conn.audit_event)
        self._start(subsystem, b"subsystem", String(subsystem))
        return True

    def _start(self, what: str, request: bytes, *args: bytes) -> None:
        """Replay the client's setup on the node, in the client's order, then start.

        The client was told yes already (its channel is open and may carry
        data); a refusal from the node ends the channel with a line saying
        what was refused, because sshd leaves a refused session's channel
        open and the client would wait forever.
        """
        node = self.node_chan
        for key, value in self.chan.get_environment_bytes().items():
            channels.send_request(node, b"env", String(key), String(value))
        term_type = self.chan.get_terminal_type()
        if term_type is not None:
            size = self.chan.get_terminal_size()
            modes = self.chan.get_terminal_modes()
            pty = channels.request_with_reply(
                node, b"pty-req", channels.pty_request_args(term_type, size, modes)
            )
            pty.add_done_callback(self._pty_answered)
        agent_path = self.chan.get_agent_path()
        if agent_path:
            self.conn.forward_agent_onward(agent_path)
            channels.send_request(node, b"auth-agent-req@openssh.com")
        started = channels.request_with_reply(node, request, *args)
        started.add_done_callback(lambda fut: self._started(fut, request, what))

    def _pty_answered(self, fut: asyncio.Future[bool | None]) -> None:
        # As with OpenSSH straight to the node, the session goes on without a pty.
        if not fut.cancelled() and not fut.result():
            failure = failures.request_refused(self.conn.target.name, "a pty")
            self.conn.failure(failure)
            self._warn(failure.message)

    def _started(self, fut: asyncio.Future[bool | None], request: bytes, what: str) -> None:
        if fut.cancelled() or fut.result():
            return
        if self.closed:
            return  # the client left first; nothing to tell it
        name = self.conn.target.name
        failure = (
            failures.subsystem_refused(name, what)
            if request == b"subsystem"
            else failures.request_refused(name, what)
        )
        self.conn.failure(failure)
        self._warn(failure.message)
        self.exit_status = REFUSED_STATUS
        self.closed = True
        self.chan.exit(REFUSED_STATUS)
        if self.client_closing:
            channels.finish_close(self.chan)
        self.node_chan.close()
        self._finish()

    def terminate(self, reason: str) -> None:
        """An auditor ended the session (``auditor terminate``): the user is told
        why on stderr, then both sides close."""
        if self.closed:
            return
        self._flush()
        self._warn(f"{TERMINATED}: {reason}")
        self.closed = True
        self.chan.exit(REFUSED_STATUS)
        if self.client_closing:
            channels.finish_close(self.chan)
        self.node_chan.close()
        self._finish()

    def _warn(self, message: str) -> None:
        if self.chan is not None and not self.closed:
            self.chan.write_stderr(f"auditor: {message}\r\n".encode())

    def data_received(self, data: bytes, datatype: int | None) -> None:
        if self.node_chan.is_closing():
            return  # refused: the client had not heard yet
        if self.sftp is not None:
            self.sftp.from_client(data)
        else:
            self.recording.input(data)
        self.node_chan.write(data, datatype)

    def eof_received(self) -> bool:
        if not self.node_chan.is_closing():
            self.node_chan.write_eof()
        return True

    def terminal_size_changed(self, width: int, height: int, pixw: int, pixh: int) -> None:
        self.recording.resize(width, height)
        channels.send_request(
            self.node_chan,
            b"window-change",
            UInt32(width) + UInt32(height) + UInt32(pixw) + UInt32(pixh),
        )

    def signal_received(self, signal: str) -> None:
        self.recording.marker(f"signal {signal}")
        channels.send_request(self.node_chan, b"signal", String(signal))

    def break_received(self, msec: int) -> bool:
        self.recording.marker(f"break {msec}")
        channels.send_request(self.node_chan, b"break", UInt32(msec))
        return True

    def pause_writing(self) -> None:
        self.node_chan.pause_reading()

    def resume_writing(self) -> None:
        self.node_chan.resume_reading()

    def _x11_refused(self) -> None:
        self.conn.audit_event("x11_refused", session_id=self.recording.session_id)
        self._warn(X11_REFUSED)

    def _client_closed(self) -> None:
        """The client closed first: the node's exit status still goes to it, as from sshd."""
        self.client_closing = True
        if self.closed:
            channels.finish_close(self.chan)
        else:
            self.node_chan.close()  # the node answers with its exit status, then its close

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.node_chan.close()
        self._finish()

    # node → client
    def node_data(self, data: bytes, datatype: int | None) -> None:
        if datatype:
            self._flush()  # stdout before it stays before it, in the file and on the wire
            if self.sftp is None:
                self.recording.stderr(data)
            if not self.closed:
                self.chan.write(data, datatype)
            return
        if self.sftp is not None:
            self.sftp.from_server(data)
        self.pending.append(data)
        self.pending_len += len(data)
        if self.pending_len >= EARLY_BYTES:
            self._flush()  # bulk output: on its way now, not at the turn's end
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Output gathered (a loop turn's, or 128 KiB of bulk): one record, one write."""
        self.flush_scheduled = False
        if not self.pending:
            return
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending.clear()
        self.pending_len = 0
        if self.sftp is None:
            self.recording.output(data)
        if not self.closed:
            self.chan.write(data)

    def node_eof(self) -> None:
        self._flush()
        if not self.closed:
            self.chan.write_eof()

    def node_exit_status(self, status: int) -> None:
        self.exit_status = status

    def node_exit_signal(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = (signal, core_dumped, msg, lang)

    def node_closed(self, exc: Exception | None) -> None:
        self._flush()
        if not self.closed:
            self.closed = True
            if self.exit_signal is not None:
                self.chan.exit_with_signal(*self.exit_signal)
            elif self.exit_status is not None:
                self.chan.exit(self.exit_status)
            else:
                self.chan.close()
            if self.client_closing:
                channels.finish_close(self.chan)
        self._finish()

    def node_pause(self) -> None:
        if self.chan is not None:
            self.chan.pause_reading()

    def node_resume(self) -> None:
        if self.chan is not None:
            self.chan.resume_reading()

    def _finish(self) -> None:
        self._flush()  # output still gathered goes into the recording
        if self.sftp is not None:
            self.sftp.close()
            self.sftp = None
        self.recording.finish(self.exit_status, self.exit_signal[0] if self.exit_signal else None)


async def open_session_bridge(conn: ProxiedConnection) -> SessionBridge:
    node = await conn.upstream_connection()
    side = _NodeSide()
    try:
        node_chan = await channels.open_session_channel(node, side)
    except Exception as exc:  # the node's refusal reason goes to the client
        raise channels.open_error(exc, f"open failed on {conn.target.name}: {exc}") from None
    try:
        recording = await conn.new_recording("session")
    except AuditorError as exc:  # the index is away: no unrecorded sessions
        node_chan.close()
        raise channels.open_error(exc, str(exc)) from None
    return SessionBridge(conn, node_chan, side, recording)
