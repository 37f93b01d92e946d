"""Where a recording is read from: a file, or a sealed object in a bucket.

The one seam between ``RecordingReader`` (and ``verify``) and the place a
recording lives. A location is a path, or an ``s3://`` URL as the index's
``recording_path`` keeps it for an uploaded recording; only ``s3://`` pulls in
the object-store client.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO, Protocol

from auditor.recording.format import INDEX_ENTRY, INDEX_SUFFIX

READ_BUFFER = 1 << 20


class RecordingSource(Protocol):
    """A recording's bytes and its sidecars, read-only."""

    @property
    def name(self) -> str:
        """How messages name the recording (a path, or a URL without secrets)."""
        ...

    def open(self) -> BinaryIO:
        """A new seekable reader over the recording (the caller closes it)."""
        ...

    def size(self) -> int: ...

    def sidecar(self, suffix: str) -> bytes | None:
        """The sidecar ``suffix`` names (``.idx``, ``.keyframes``), or None if there is none."""
        ...

    def last_index_entry(self) -> tuple[int, float, int] | None:
        """The sidecar index's last complete entry: where the writer last finished a flush."""
        ...


def object_url(location: str | os.PathLike[str]) -> str | None:
    """The ``s3://`` URL ``location`` names, or None for a file. Callers that wrap
    ``recording_path`` in ``Path()`` fold its ``//`` into ``/``; the URL keeps no
    other ``//`` (its endpoint is percent-encoded), so it comes back whole."""
    text = os.fspath(location)
    if text.startswith("s3://"):
        return text
    if text.startswith("s3:/") and isinstance(location, Path):
        return "s3://" + text.removeprefix("s3:/")
    return None


def open_source(location: str | os.PathLike[str]) -> RecordingSource:
    url = object_url(location)
    if url is not None:
        from auditor.recording.bucket import object_source

        return object_source(url)
    return FileSource(Path(location))


class FileSource:
    """A recording in a file, possibly still growing (a live session's spool)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return str(self.path)

    def open(self) -> BinaryIO:
        return open(self.path, "rb", buffering=READ_BUFFER)

    def size(self) -> int:
        return os.path.getsize(self.path)

    def sidecar(self, suffix: str) -> bytes | None:
        try:
            return self.path.with_name(self.path.name + suffix).read_bytes()
        except FileNotFoundError:
            return None

    def last_index_entry(self) -> tuple[int, float, int] | None:
        path = self.path.with_name(self.path.name + INDEX_SUFFIX)
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                fh.seek(size - size % INDEX_ENTRY.size - INDEX_ENTRY.size)
                offset, t, seq = INDEX_ENTRY.unpack(fh.read(INDEX_ENTRY.size))
        except (OSError, struct.error):
            return None
        return offset, t, seq
