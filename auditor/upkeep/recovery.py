"""Sessions left live by a proxy that is gone become ``interrupted``.

Every proxy runs this at start and on its flush timer, and ``auditor
migrate`` before it copies. Gone is a PID that no longer runs on this
machine, or, for another machine's proxy (a fleet's shared index), a lease
that ran out: each proxy renews its own every few seconds
(``SessionIndex.renew_lease``, from ``auditor.proxy.service``), and one that
never took a lease is judged by its rows' own updates.
"""

from __future__ import annotations

import logging
import time

from auditor.index import SessionIndex
from auditor.index.api import LEASE
from auditor.index.owner import owner_alive, owner_host, this_host
from auditor.index.rows import LiveRow
from auditor.recording.format import RecordingError
from auditor.recording.reader import RecordingReader
from auditor.recording.source import RecordingLocation

log = logging.getLogger("auditor.index")


def recover_interrupted(index: SessionIndex) -> int:
    """Mark the live rows of processes that are gone interrupted; returns how many.

    Their end time is the time of their last record (or last update, for a
    recording elsewhere), and their anchor the recording's last hash.
    """
    count = 0
    leases = index.leases()
    now = time.time()
    for row in index.live_rows():
        if row.owner == index.owner or not owner_gone(index, row, leases, now):
            continue
        end, anchor = row.updated or row.start, None
        if row.recording is not None and not recording_elsewhere(row.recording, row.owner):
            try:
                summary = RecordingReader(row.recording).summary()
                end, anchor = row.start + summary.duration, summary.final_hash
            except RecordingError as exc:
                log.warning("session %s: %s", row.id, exc)
        if index.mark_interrupted(row.id, end, anchor):
            count += 1
    return count


def owner_gone(index: SessionIndex, row: LiveRow, leases: dict[str, float], now: float) -> bool:
    """The process carrying ``row`` no longer runs (here) or renews its lease (elsewhere)."""
    if owner_host(row.owner) == this_host() or not index.shares_live:
        return not owner_alive(row.owner)
    expires = leases.get(str(row.owner))
    if expires is None:  # never leased: the row's own updates say it is kept up
        expires = (row.updated or row.start) + LEASE
    return expires < now


def recording_elsewhere(recording: RecordingLocation, owner: str | None) -> bool:
    """A recording in another machine's spool: its file is not here to read."""
    if recording.path is None:
        return False  # an object: readable from anywhere
    return owner_host(owner) not in (None, this_host()) and not recording.path.exists()
