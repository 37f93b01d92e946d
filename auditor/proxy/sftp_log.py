"""SFTP operations read off the wire: what was put, got, removed or renamed, and how much.

The recording of an sftp channel keeps these events and byte counts, not
the file contents: the files themselves are on the node, and storing every
transferred byte a second time would double the audit store for nothing a
reviewer reads.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Protocol

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")

OPEN, CLOSE, READ, WRITE = 3, 4, 5, 6
OPENDIR, REMOVE, MKDIR, RMDIR, RENAME, SYMLINK, SETSTAT = 11, 13, 14, 15, 18, 20, 9
HANDLE, DATA, STATUS = 102, 103, 101
EXTENDED = 200
# OpenSSH's sftp renames with posix-rename@openssh.com whenever the server offers it.
TWO_PATH_EXTENSIONS = {b"posix-rename@openssh.com": "rename", b"hardlink@openssh.com": "hardlink"}
PATH_OPS = {
    OPENDIR: "opendir",
    REMOVE: "remove",
    MKDIR: "mkdir",
    RMDIR: "rmdir",
    SETSTAT: "setstat",
}
FXF_WRITE, FXF_CREAT = 0x02, 0x08


class _Sink(Protocol):
    def event(self, text: str) -> None: ...
    def count(self, bytes_in: int = 0, bytes_out: int = 0) -> None: ...


def _string(buf: bytes, pos: int) -> tuple[bytes, int]:
    (n,) = _U32.unpack_from(buf, pos)
    return buf[pos + 4 : pos + 4 + n], pos + 4 + n


class _Framer:
    """Splits one direction of the byte stream into SFTP packets."""

    def __init__(self, on_packet: Callable[[int, bytes], None]) -> None:
        self.buf = bytearray()
        self.on_packet = on_packet
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        self.buf += data
        while len(self.buf) >= 5:
            (length,) = _U32.unpack_from(self.buf, 0)
            if length < 1 or length > 1 << 24:
                self.broken = True  # not SFTP as we know it: stop parsing, keep forwarding
                self.buf.clear()
                return
            if len(self.buf) < 4 + length:
                return
            packet = bytes(self.buf[4 : 4 + length])
            del self.buf[: 4 + length]
            self.on_packet(packet[0], packet[1:])


class SftpLog:
    def __init__(self, sink: _Sink, audit: Callable[..., None]) -> None:
        self.sink = sink
        self.audit = audit
        self.client = _Framer(self._client_packet)
        self.server = _Framer(self._server_packet)
        self.pending: dict[int, tuple[str, Any]] = {}
        self.handles: dict[bytes, dict[str, Any]] = {}

    def from_client(self, data: bytes) -> None:
        self.sink.count(bytes_in=len(data))
        self.client.feed(data)

    def from_server(self, data: bytes) -> None:
        self.sink.count(bytes_out=len(data))
        self.server.feed(data)

    def _emit(self, op: str, **fields: Any) -> None:
        text = " ".join([op, *(f"{k}={v}" for k, v in fields.items())])
        self.sink.event(f"sftp {text}")
        self.audit("sftp", op=op, **fields)

    def _client_packet(self, kind: int, body: bytes) -> None:
        try:
            if kind in (1, 2) or len(body) < 4:  # INIT / VERSION carry no request id
                return
            (rid,) = _U32.unpack_from(body, 0)
            if kind == OPEN:
                path, pos = _string(body, 4)
                (flags,) = _U32.unpack_from(body, pos)
                mode = "write" if flags & (FXF_WRITE | FXF_CREAT) else "read"
                self.pending[rid] = ("open", (path.decode(errors="replace"), mode))
            elif kind == READ:
                handle, _ = _string(body, 4)
                self.pending[rid] = ("read", handle)
            elif kind == WRITE:
                handle, pos = _string(body, 4)
                (n,) = _U32.unpack_from(body, pos + 8)
                if handle in self.handles:
                    self.handles[handle]["written"] += n
            elif kind == CLOSE:
                handle, _ = _string(body, 4)
                info = self.handles.pop(handle, None)
                if info:
                    op = "put" if info["mode"] == "write" else "get"
                    nbytes = info["written"] if op == "put" else info["read"]
                    self._emit(op, path=info["path"], bytes=nbytes)
            elif kind in PATH_OPS:
                path, _ = _string(body, 4)
                self._emit(PATH_OPS[kind], path=path.decode(errors="replace"))
            elif kind == RENAME:
                old, pos = _string(body, 4)
                new, _ = _string(body, pos)
                self._emit(
                    "rename", path=old.decode(errors="replace"), to=new.decode(errors="replace")
                )
            elif kind == SYMLINK:
                a, pos = _string(body, 4)
                b, _ = _string(body, pos)
                self._emit(
                    "symlink", path=a.decode(errors="replace"), to=b.decode(errors="replace")
                )
            elif kind == EXTENDED:
                name, pos = _string(body, 4)
                if name in TWO_PATH_EXTENSIONS:
                    a, pos = _string(body, pos)
                    b, _ = _string(body, pos)
                    self._emit(
                        TWO_PATH_EXTENSIONS[name],
                        path=a.decode(errors="replace"),
                        to=b.decode(errors="replace"),
                    )
        except struct.error:
            self._emit("malformed", type=kind)

    def _server_packet(self, kind: int, body: bytes) -> None:
        try:
            if kind in (1, 2) or len(body) < 4:
                return
            (rid,) = _U32.unpack_from(body, 0)
            what = self.pending.pop(rid, None)
            if what is None:
                return
            op, arg = what
            if op == "open" and kind == HANDLE:
                handle, _ = _string(body, 4)
                path, mode = arg
                self.handles[handle] = {"path": path, "mode": mode, "written": 0, "read": 0}
            elif op == "read" and kind == DATA and arg in self.handles:
                (n,) = _U32.unpack_from(body, 4)
                self.handles[arg]["read"] += n
        except struct.error:
            self._emit("malformed", type=kind)

    def close(self) -> None:
        for info in self.handles.values():
            op = "put" if info["mode"] == "write" else "get"
            self._emit(op, path=info["path"], bytes=info["written"] or info["read"], closed="no")
        self.handles.clear()
