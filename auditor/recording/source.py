"""Where a recording is read from: a file, or a sealed object in a bucket.

The one seam between ``RecordingReader`` (and ``verify``) and the place a
recording lives. A ``RecordingLocation`` is a path, or an ``s3://`` URL as
the index's ``recording_path`` keeps it for an uploaded recording; only
``s3://`` pulls in the object-store client.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
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


@dataclass(frozen=True)
class RecordingLocation:
    """Where a recording lives: a file on the machine that wrote it (``path``) or
    a sealed object (``url``, ``s3://bucket/key?endpoint=...``); exactly one.

    The index keeps it as text (``recording_path``); ``of`` reads that text
    back. Never a ``Path`` over a URL: ``Path("s3://b/k")`` is ``s3:/b/k``."""

    path: Path | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.path is None) == (self.url is None):
            raise ValueError("a recording location is a path or a URL, exactly one")

    @classmethod
    def of(cls, where: RecordingLocation | str | os.PathLike[str]) -> RecordingLocation:
        if isinstance(where, RecordingLocation):
            return where
        text = os.fspath(where)
        return cls(url=text) if text.startswith("s3://") else cls(path=Path(text))

    @property
    def is_object(self) -> bool:
        return self.url is not None

    @property
    def name(self) -> str:
        """The recording's own name: the file's, or the object key's last part."""
        if self.path is not None:
            return self.path.name
        return str(self.url).split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]

    def __str__(self) -> str:
        """As the index keeps it."""
        return self.url if self.url is not None else str(self.path)

    def source(self) -> RecordingSource:
        if self.url is not None:
            from auditor.recording.bucket import object_source

            return object_source(self.url)
        assert self.path is not None
        return FileSource(self.path)


def object_url(location: RecordingLocation | str | os.PathLike[str]) -> str | None:
    """The ``s3://`` URL ``location`` names, or None for a file."""
    return RecordingLocation.of(location).url


def open_source(location: RecordingLocation | str | os.PathLike[str]) -> RecordingSource:
    return RecordingLocation.of(location).source()


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
