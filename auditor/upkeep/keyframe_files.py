"""Keyframes kept up to date in the background, off the proxy's hot path.

The proxy's text-extraction child process calls ``KeyframeUpkeep.run``
after each pass: sessions that ended since the last pass get their
keyframes built (or finished), and live ones are extended once their
recording grew by ``grow_bytes``, so a replay of a long session, live or
not, seeks at once. Each pass resumes from the last keyframe, so the work
is proportional to what is new. What it misses (imported recordings,
sessions from before the proxy started) ``replay`` builds when it needs it.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.recording.source import RecordingLocation
from auditor.replay.keyframes import KeyframeIndex
from auditor.replay.recorded import recording_keyframes

log = logging.getLogger("auditor.replay")

GROW_BYTES = 1 << 20


def build_keyframes_for(path: Path) -> KeyframeIndex | None:
    """Build or extend a recording's keyframe sidecar; ``None`` (and a
    warning) if the recording can't be read or the sidecar written."""
    try:
        return recording_keyframes(path)
    except AuditorError as exc:
        log.warning("keyframes for %s: %s", path, exc)
    except OSError as exc:
        log.warning("keyframes for %s: %s", path, exc.strerror or exc)
    return None


class KeyframeUpkeep:
    def __init__(self, grow_bytes: int = GROW_BYTES, since: float | None = None) -> None:
        self.grow_bytes = grow_bytes
        # Sessions that ended before this are left to `replay` (built lazily).
        self.ended_since = time.time() if since is None else since
        self.built_size: dict[str, int] = {}  # recording path -> size at the last build

    def run(self, index: SessionIndex) -> int:
        """One pass; returns how many recordings got keyframes."""
        built = 0
        for ended in self._ended(index):
            self.built_size.pop(str(ended), None)
            if ended.path is None:
                continue  # uploaded sealed: its keyframes went with it, or replay builds them
            if build_keyframes_for(ended.path) is not None:
                built += 1
        for session in index.live_sessions():
            path = session.recording_path
            if not path:
                continue
            try:
                size = os.path.getsize(path)
            except OSError:
                continue
            if size - self.built_size.get(path, 0) < self.grow_bytes:
                continue
            self.built_size[path] = size
            if build_keyframes_for(Path(path)) is not None:
                built += 1
        return built

    def _ended(self, index: SessionIndex) -> list[RecordingLocation]:
        ended = index.ended_since(self.ended_since)
        if ended:
            # `end >` next time; rows ending in the same instant are all in this batch.
            self.ended_since = max(s.end or 0.0 for s in ended) + 1e-6
        return [s.recording for s in ended if s.recording is not None]
