"""Reviews, views and holds (issue 24) on both engines: several reviews a
session kept in order, who viewed it how, holds that retention skips, the
sessions filters, and prune taking reviews and views with their session."""

from __future__ import annotations

import time

import pytest

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.index.marks import MarkFilter
from tests.index.test_index import FIELDS, recorded_session

DAY = 86400.0


def test_reviews_views_and_filters(index: SessionIndex) -> None:
    a = recorded_session(index, b"first\r\n")
    b = recorded_session(index, b"second\r\n")
    c = recorded_session(index, b"third\r\n")
    index.add_review(a, "joe", "looked fine", t=83.4)
    index.add_review(a, "ann")
    index.add_review(b, "ann", "odd sudo")
    index.record_view(a, "joe", "replay")
    index.record_view(a, "ann", "export")
    with pytest.raises(ValueError):
        index.record_view(a, "ann", "stare")

    reviews = index.reviews([a, b, c])
    assert [(r.reviewer, r.note, r.t) for r in reviews[a]] == [
        ("joe", "looked fine", 83.4),
        ("ann", None, None),
    ]
    assert [r.reviewer for r in reviews[b]] == ["ann"]
    assert c not in reviews
    assert [(v.viewer, v.what) for v in index.views([a])[a]] == [
        ("joe", "replay"),
        ("ann", "export"),
    ]

    def ids(marks: MarkFilter) -> set[str]:
        return {s.id for s in index.marked_sessions(marks, limit=None)}

    assert ids(MarkFilter(unreviewed=True)) == {c}
    assert ids(MarkFilter(reviewed_by="ann")) == {a, b}
    assert ids(MarkFilter(reviewed_by="joe")) == {a}
    assert ids(MarkFilter(reviewed_by="nobody")) == set()
    assert index.marked([a, b, c], MarkFilter(reviewed_by="joe")) == {a}
    assert index.marked([a, b, c], MarkFilter(unreviewed=True)) == {c}


def test_a_held_session_outlives_retention_until_released(index: SessionIndex) -> None:
    now = time.time()
    held = recorded_session(index, b"evidence\r\n")
    index.update_session(held, start=now - 100 * DAY, end=now - 100 * DAY + 5)
    other = recorded_session(index, b"routine\r\n")
    index.update_session(other, start=now - 100 * DAY, end=now - 100 * DAY + 5)
    index.add_review(held, "joe")
    index.record_view(held, "joe", "review")
    index.record_view(other, "joe", "replay")

    hold = index.hold(held, "joe", "incident 42")
    assert (hold.held_by, hold.reason) == ("joe", "incident 42")
    with pytest.raises(AuditorError, match="already held by joe: incident 42"):
        index.hold(held, "ann", "again")
    assert set(index.holds([held, other])) == {held}
    assert {s.id for s in index.marked_sessions(MarkFilter(held=True))} == {held}

    cutoff = now - 90 * DAY
    assert [s.id for s in index.expired_sessions(cutoff)] == [other]
    # Even named directly (a race with a hold taken mid-prune): kept.
    assert index.remove_sessions([held, other]) == 1
    assert index.views([other]) == {}
    assert index.get_session(held).id == held

    assert index.release(held).reason == "incident 42"
    with pytest.raises(AuditorError, match="is not held"):
        index.release(held)
    assert [s.id for s in index.expired_sessions(cutoff)] == [held]
    assert index.remove_sessions([held]) == 1
    assert index.reviews([held]) == {} and index.views([held]) == {}


def test_marked_sessions_keeps_the_other_filters(index: SessionIndex) -> None:
    mine = recorded_session(index, b"x\r\n")
    theirs = index.start_session(**{**FIELDS, "user": "zed"}, kind="session")
    index.end_session(theirs)
    found = index.marked_sessions(MarkFilter(unreviewed=True), user=FIELDS["user"], limit=None)
    assert [s.id for s in found] == [mine]


def test_retention_keeps_a_held_session_and_its_recording(index: SessionIndex) -> None:
    from pathlib import Path

    from auditor.config import Retention
    from auditor.upkeep.retention import prune

    now = time.time()
    held = recorded_session(index, b"evidence\r\n")
    other = recorded_session(index, b"routine\r\n")
    for sid in (held, other):
        index.update_session(sid, start=now - 100 * DAY, end=now - 100 * DAY + 5)
    files = {sid: Path(index.get_session(sid).recording_path or "") for sid in (held, other)}
    index.hold(held, "joe", "incident 42")

    report = prune(index, Retention(sessions=90 * DAY))
    assert [s.id for s in report.sessions] == [other]
    assert files[held].exists() and not files[other].exists()
    assert index.get_session(held).id == held

    index.release(held)
    assert [s.id for s in prune(index, Retention(sessions=90 * DAY)).sessions] == [held]
    assert not files[held].exists()
