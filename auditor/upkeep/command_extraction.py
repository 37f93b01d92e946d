"""Moving the commands users ran into the index, off the proxy's path.

The commands of a session are read off its emulated screen
(``auditor.replay.command_reader``), which needs the output from the start: so
they are read once, after the session has ended, by whoever runs the
index's passes (the proxy's extraction child, ``auditor commands`` itself
for imported sessions). A recording that can't be read gives no commands
and is not tried again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from auditor.errors import AuditorError
from auditor.index.rows import CommandRow
from auditor.recording.format import RecordingError
from auditor.recording.reader import RecordingReader
from auditor.upkeep.recovery import recording_elsewhere

if TYPE_CHECKING:
    from auditor.index.api import SessionIndex

log = logging.getLogger("auditor.index")


def extract_commands(index: SessionIndex, session_id: str) -> int:
    from auditor.replay.command_reader import session_commands  # the emulator: only when read

    session = index.get_session(session_id)
    if session.recording is None:
        index.store_commands(session_id, [])
        return 0
    try:
        reader = RecordingReader(session.recording)
        found = [
            CommandRow(
                session_id,
                c.t,
                session.start + c.t,
                c.line,
                c.context,
                session.user,
                session.login,
                session.node,
            )
            for c in session_commands(reader.records())
        ]
    except (RecordingError, OSError) as exc:
        if recording_elsewhere(session.recording, session.owner):
            return 0  # another machine's spool: read once it is uploaded (or by its proxy)
        log.warning("session %s: no commands: %s", session_id, exc)
        found = []
    index.store_commands(session_id, found)
    return len(found)


def extract_pending_commands(index: SessionIndex) -> int:
    """One pass over the sessions that ended since the last; returns commands added."""
    added = 0
    for session_id in index.pending_commands():
        try:
            added += extract_commands(index, session_id)
        except AuditorError as exc:  # removed meanwhile, or the index is out of reach
            log.warning("session %s: commands postponed: %s", session_id, exc)
    return added
