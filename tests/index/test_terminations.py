"""Termination requests in the index, on both engines: what `auditor terminate`
writes and what every proxy looks for among the sessions it carries."""

from __future__ import annotations

import pytest

from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.index.rows import TerminationRequest
from auditor.upkeep.termination import request_termination


def live(index: SessionIndex, kind: str = "session") -> str:
    return index.start_session(user="joe", login="root", node="db1", kind=kind)


def test_a_request_is_found_by_the_proxy_and_kept_after_the_end(index: SessionIndex) -> None:
    asked, other = live(index), live(index)
    row = request_termination(index, asked[:6], by="ann", reason="rm -rf in prod")
    assert row.id == asked and row.live
    assert (row.terminated_by, row.termination_reason) == ("ann", "rm -rf in prod")
    assert index.termination_requests([asked, other]) == [
        TerminationRequest(asked, "ann", "rm -rf in prod")
    ]
    assert index.termination_requests([other]) == []
    assert index.termination_requests([]) == []

    index.end_session(asked, status="ended")
    assert index.termination_requests([asked, other]) == []  # acted on: no longer pending
    ended = index.get_session(asked)
    assert ended.status == "ended"
    assert ended.to_json()["terminated_by"] == "ann"
    assert ended.to_json()["termination_reason"] == "rm -rf in prod"
    assert index.get_session(other).terminated_by is None


def test_a_request_without_a_reason_says_so(index: SessionIndex) -> None:
    sid = live(index)
    assert request_termination(index, sid, by="ann").termination_reason == "no reason given"


@pytest.mark.parametrize(
    ("status", "message"),
    [("ended", "it has already ended"), ("interrupted", "it was interrupted")],
)
def test_only_a_live_session_can_be_terminated(
    index: SessionIndex, status: str, message: str
) -> None:
    sid = live(index)
    index.end_session(sid, status=status)
    with pytest.raises(AuditorError, match=f"session {sid[:8]} is not live: {message}"):
        request_termination(index, sid, by="ann")
    with pytest.raises(AuditorError, match="unknown session ID 'ffff'"):
        request_termination(index, "ffff", by="ann")
    assert index.get_session(sid).terminated_by is None


def test_a_forward_row_is_not_a_session_channel(index: SessionIndex) -> None:
    sid = live(index, kind="forward")
    with pytest.raises(AuditorError, match="only shells, commands and subsystems"):
        request_termination(index, sid, by="ann")


def test_a_request_is_found_among_many_live_sessions(index: SessionIndex) -> None:
    ids = [live(index) for _ in range(1203)]
    request_termination(index, ids[1100], by="ann", reason="x")
    assert [r.session_id for r in index.termination_requests(ids)] == [ids[1100]]
