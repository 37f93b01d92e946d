"""The on-disk recording format, shared by the writer, the reader and verify.

A recording is one append-only file::

    MAGIC  u32 meta_len  meta (JSON)  record*

and every record is::

    u32 seq  f64 t  u8 stream  u32 len  data[len]  tag[16]

``tag`` chains the records: ``tag_i = sha256(tag_{i-1} || header_i || data_i)[:16]``
with ``tag_{-1}`` derived from the file header, so changing, dropping,
inserting or reordering any record (or the metadata) breaks the chain at
that record. ``seq`` numbers records so verify can say *which* record went
missing or moved, not just that the chain broke. SHA-256 because OpenSSL
uses the CPU's SHA extensions: about twice blake2b's speed here.

The writer ends every flush with a CHECKPOINT record and ``close()`` with a
SEAL record, so a file that stops after a checkpoint was cut between flushes
(a crash), and anything after a SEAL was added later. A sidecar file
(``<name>.idx``) holds one fixed-size entry per checkpoint (offset, t, seq)
so a reader can start near a time without scanning the whole file; it is an
index only, never trusted for integrity.
"""

from __future__ import annotations

import enum
import hashlib
import struct
from pathlib import Path

from auditor.errors import AuditorError

MAGIC = b"AUDREC\x01\n"
META_LEN = struct.Struct("<I")
HEADER = struct.Struct("<IdBI")  # seq, t, stream, len
TAG_SIZE = 16
INDEX_ENTRY = struct.Struct("<QdI")  # offset of the next record, t, next seq
CHECKPOINT_DATA = struct.Struct("<dQ")  # wall clock, payload bytes so far
SEAL_DATA = struct.Struct("<d")  # wall clock at close
MAX_DATA = 1 << 24  # larger appends are split; a bigger length is corruption
MAX_META = 1 << 20
SUFFIX = ".rec"
INDEX_SUFFIX = ".idx"
KEYFRAMES_SUFFIX = ".keyframes"  # replay's seek points (auditor.replay.keyframes)
ANCHOR_SUFFIX = ".anchor"  # the signed hash anchor (auditor.recording.anchor)


class Stream(enum.IntEnum):
    """What a record carries. Values are on disk: never renumber."""

    OUTPUT = 1
    INPUT = 2
    RESIZE = 3  # encode_resize(cols, rows)
    MARKER = 4  # UTF-8 text: the exec command, subsystem name, ...
    EXIT = 5  # encode_exit(status, signal)
    STDERR = 6
    EVENT = 7  # UTF-8 text: sftp operations, port forwards
    # Input typed here was withheld (not echoed: a password), with no data:
    # one record per withheld run, whatever its length (auditor.proxy.redact).
    WITHHELD = 8


class Internal(enum.IntEnum):
    """Records the writer adds for integrity; readers never yield them."""

    CHECKPOINT = 0x80
    SEAL = 0x81


USER_STREAMS = frozenset(int(s) for s in Stream)
ALL_STREAMS = USER_STREAMS | frozenset(int(s) for s in Internal)
# How replay, commands, exports and the text index show a WITHHELD record.
WITHHELD_TEXT = "[input withheld]"


class RecordingError(AuditorError):
    """A recording that cannot be read: names the file and the offset."""


def first_tag(header: bytes) -> bytes:
    """The chain's starting value: binds the metadata into every later tag."""
    return hashlib.sha256(b"auditor-recording-v1\0" + header).digest()[:TAG_SIZE]


def record_tag(prev: bytes, header: bytes, data: bytes) -> bytes:
    h = hashlib.sha256(prev)
    h.update(header)
    h.update(data)
    return h.digest()[:TAG_SIZE]


def index_path(path: Path) -> Path:
    return path.with_name(path.name + INDEX_SUFFIX)


_RESIZE = struct.Struct(">HH")


def encode_resize(cols: int, rows: int) -> bytes:
    return _RESIZE.pack(cols, rows)


def decode_resize(data: bytes) -> tuple[int, int]:
    """``(cols, rows)``."""
    cols, rows = _RESIZE.unpack(data[: _RESIZE.size])
    return cols, rows


def encode_exit(status: int | None = None, signal: str | None = None) -> bytes:
    return f"signal {signal}".encode() if signal is not None else str(status).encode()


def decode_exit(data: bytes) -> tuple[int | None, str | None]:
    """``(exit status, signal name)``: one of them is ``None``."""
    text = data.decode("utf-8", "replace").strip()
    if text.startswith("signal "):
        return None, text.removeprefix("signal ")
    try:
        return int(text), None
    except ValueError:
        return None, None
