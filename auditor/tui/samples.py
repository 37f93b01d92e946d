"""Sample recordings for a first run, so a new user has something to look at.

``sample_sessions/`` (made by ``scripts/make_sample_sessions`` through the
real proxy against a real sshd) holds recordings and a manifest of their
session and failure rows. On the first run with an empty data directory
they are copied in and indexed; ``DATA_DIR/samples.json`` lists what was
imported, so the TUI can mark those rows as samples.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.index import SessionIndex
from auditor.index.rows import FAILURE_COLUMNS, SESSION_COLUMNS
from auditor.recording.format import index_path
from auditor.upkeep.text_extraction import insert_ended_with_text

MANIFEST = "manifest.json"
MARKER = "samples.json"


def bundled_samples() -> Path | None:
    """``sample_sessions/`` of the source tree this package runs from, if present."""
    path = Path(__file__).resolve().parents[2] / "sample_sessions"
    return path if (path / MANIFEST).is_file() else None


@dataclass(frozen=True)
class SampleIds:
    sessions: frozenset[str] = field(default_factory=frozenset)
    failures: frozenset[str] = field(default_factory=frozenset)


def sample_ids(data_dir: Path) -> SampleIds:
    try:
        data = json.loads((data_dir / MARKER).read_text())
    except (OSError, ValueError):
        return SampleIds()
    return SampleIds(frozenset(data.get("sessions", ())), frozenset(data.get("failures", ())))


def is_empty(data_dir: Path) -> bool:
    """Nothing indexed yet and samples never offered: a first run."""
    return not (data_dir / "index.db").exists() and not (data_dir / MARKER).exists()


def import_samples(index: SessionIndex, source: Path) -> SampleIds:
    """Copy the samples' recordings in and index them, marked in ``samples.json``."""
    manifest: dict[str, Any] = json.loads((source / MANIFEST).read_text())
    sessions: list[str] = []
    failures: list[str] = []
    for row in manifest.get("sessions", []):
        fields = {k: v for k, v in row.items() if k in SESSION_COLUMNS}
        session_id = str(fields["id"])
        recording = source / "recordings" / str(row["recording"])
        target = index.recording_path(session_id)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(recording, target)
        os.chmod(target, 0o600)
        if index_path(recording).exists():
            shutil.copyfile(index_path(recording), index_path(target))
            os.chmod(index_path(target), 0o600)
        fields.update(recording_path=str(target), status=fields.get("status") or "ended")
        if fields["status"] == "live":
            fields["status"] = "interrupted"
        fields.pop("id")
        insert_ended_with_text(index, session_id, **fields)
        sessions.append(session_id)
    for row in manifest.get("failures", []):
        fields = {k: v for k, v in row.items() if k in FAILURE_COLUMNS and v is not None}
        fields.pop("extra", None)
        kind, message = fields.pop("kind"), fields.pop("message")
        hint = fields.pop("hint", None)
        failures.append(index.record_failure(kind, message, hint=hint, sample=True, **fields))
    marker = {"source": str(source), "sessions": sessions, "failures": failures}
    (index.data_dir / MARKER).write_text(json.dumps(marker, indent=1))
    return SampleIds(frozenset(sessions), frozenset(failures))
