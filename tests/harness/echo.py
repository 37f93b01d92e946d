"""Peers behind a forward: an upper-casing echo (TCP or unix socket) and a web server.

It stands in for the dev server, database or agent socket that users reach
through ``ssh -L``/``-R``/``-D``; upper-casing shows the bytes went through
it and came back, not straight back from somewhere on the way.
"""

from __future__ import annotations

import functools
import http.server
import socket
import threading
from pathlib import Path


class UpperEcho:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @classmethod
    def tcp(cls) -> UpperEcho:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        return cls(sock)

    @classmethod
    def unix(cls, path: Path) -> UpperEcho:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        return cls(sock)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data.upper())

    def close(self) -> None:
        self.sock.close()


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    """Send ``payload``, half-close, and read everything that comes back."""
    with sock:
        sock.settimeout(10)
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


class HttpServer:
    """Python's static file server on a loopback port, in a thread of the test."""

    def __init__(self, directory: Path) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass
