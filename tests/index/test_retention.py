"""What the retention policy removes from the index, on both engines: sessions
over before the cut-off with their text and commands, old failures; never a
live session."""

from __future__ import annotations

import time

import pytest

from auditor.errors import AuditorError
from auditor.index import FailureKind, SessionIndex
from auditor.index.rows import CommandRow
from tests.index.test_index import FIELDS, recorded_session

DAY = 86400.0


def test_expired_sessions_go_with_their_text_and_commands_never_a_live_one(
    index: SessionIndex,
) -> None:
    now = time.time()
    old = recorded_session(index, b"kumquat from long ago\r\n")
    index.update_session(old, start=now - 100 * DAY, end=now - 100 * DAY + 5)
    index.store_commands(
        old, [CommandRow(old, 1.0, now - 100 * DAY, "rm -rf /srv/kumquat", "$ ", "joe")]
    )
    recent = recorded_session(index, b"kumquat of today\r\n")
    index.store_commands(recent, [CommandRow(recent, 1.0, now, "ls /srv/kumquat", "$ ", "joe")])
    live_for_ages = index.start_session(**FIELDS, kind="session", start=now - 200 * DAY)
    interrupted = index.start_session(**FIELDS, start=now - 120 * DAY)
    index.end_session(interrupted, status="interrupted", end=now - 120 * DAY + 1)

    cutoff = now - 90 * DAY
    assert [s.id for s in index.expired_sessions(cutoff)] == [interrupted, old]
    assert [s.id for s in index.expired_sessions(cutoff, limit=1)] == [interrupted]
    assert index.remove_sessions([old, interrupted, live_for_ages]) == 2

    assert index.expired_sessions(cutoff) == []
    assert [h.session.id for h in index.search("kumquat")] == [recent]
    assert [c.line for c in index.commands(search="kumquat")] == ["ls /srv/kumquat"]
    assert index.get_session(live_for_ages).live
    with pytest.raises(AuditorError, match="unknown session ID"):
        index.get_session(old)
    assert index.remove_sessions([old]) == 0


def test_failures_older_than_the_cut_off_go(index: SessionIndex) -> None:
    now = time.time()
    for age in (400, 370, 10):
        index.record_failure(FailureKind.MAXSTARTUPS, f"{age} days ago", time=now - age * DAY)
    assert index.count_failures(now - 365 * DAY) == 2
    assert index.remove_failures(now - 365 * DAY) == 2
    assert [f.message for f in index.failures()] == ["10 days ago"]
    assert index.count_failures(now - 365 * DAY) == 0
