"""``auditor import``: asciicast files (v1, v2, v3) into recordings and the index, all or nothing.

The whole file is parsed and checked before anything is written; the
recording is written next, and the session row and its text go in one
transaction. If any step fails the recording is deleted and the index is
as it was.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from auditor.index.api import SessionIndex
from auditor.recording.asciicast import parse_asciicast
from auditor.recording.format import Stream, encode_resize, index_path
from auditor.recording.writer import RecordingWriter
from auditor.upkeep.text_extraction import insert_ended_with_text


def import_asciicast(index: SessionIndex, path: Path) -> str:
    """Import one asciicast file; returns the new session's id."""
    cast = parse_asciicast(path)
    header = cast.header  # the same shape whatever the version
    start = float(header["timestamp"] or path.stat().st_mtime)
    env: dict[str, str] = header["env"]
    command: str | None = header["command"]
    session_id = index.new_session_id()
    rec_path = index.recording_path(session_id)
    meta = {
        "session_id": session_id,
        "kind": "imported",
        "start": start,
        "source": str(path.resolve()),
        "cols": header["width"],
        "rows": header["height"],
        "term": env.get("TERM"),
        "title": header.get("title"),
    }
    try:
        with RecordingWriter.create(rec_path, meta) as writer:
            writer.append(Stream.RESIZE, encode_resize(header["width"], header["height"]), 0.0)
            if command:
                writer.append(Stream.MARKER, command.encode(), 0.0)
            bytes_out = bytes_in = 0
            for t, stream, data in cast.events:
                writer.append(stream, data, t)
                if stream is Stream.OUTPUT:
                    bytes_out += len(data)
                elif stream is Stream.INPUT:
                    bytes_in += len(data)
                writer.flush_if_due()
        insert_ended_with_text(
            index,
            session_id,
            start=start,
            end=start + cast.duration,
            kind="imported",
            user=env.get("USER") or getpass.getuser(),
            command=command or header["title"] or path.name,
            exit_status=cast.exit_status,
            bytes_in=bytes_in,
            bytes_out=bytes_out,
            recording_path=str(rec_path),
            recording_hash=writer.final_hash,
        )
    except BaseException:
        rec_path.unlink(missing_ok=True)
        index_path(rec_path).unlink(missing_ok=True)
        raise
    return session_id
