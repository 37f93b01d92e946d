"""The index writer while the database is away: what a session under way
writes waits and goes in, in order, once it is back; a new session's row is
refused (the proxy refuses the session with it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.index import FailureKind, SessionIndex
from auditor.proxy import index_writer
from auditor.proxy.index_writer import IndexWriter
from auditor.storage import StorageError

AWAY = "the audit index is away (test)"


@pytest.fixture
def writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IndexWriter]:
    monkeypatch.setattr(index_writer, "RETRY_EVERY", 0.0)  # the next write tries again
    w = IndexWriter(tmp_path)
    yield w
    w.close()


def _go_away(index: SessionIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every row write fails as a database that went away fails."""

    def away(*args: Any, **kwargs: Any) -> None:
        raise StorageError(AWAY)

    for write in ("_insert_session", "_update_session", "_insert_failure"):
        monkeypatch.setattr(index, write, away)


def test_writes_of_a_session_under_way_wait_out_an_outage_in_order(
    writer: IndexWriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    session_id = writer.start_session(user="ann", node="db1").result()
    with monkeypatch.context() as outage:
        _go_away(writer.index, outage)
        with pytest.raises(StorageError, match="away"):
            writer.start_session(user="bob", node="db1").result()
        assert (writer.available, writer.trouble) == (False, AWAY)

        assert writer.update_session(session_id, command="first").result() is None
        assert writer.update_session(session_id, command="second").result() is None
        failure = writer.record_failure(FailureKind.NODE_UNREACHABLE, "db2 is gone", node="db2")
        assert failure.result() is None
        assert writer.end_session(session_id, exit_status=3, bytes_in=5).result() is None
        # Anything else is refused while the backlog waits, reads included.
        with pytest.raises(StorageError):
            writer.call(lambda index: index.get_session(session_id)).result()

    writer.renew_lease().result()  # the database is back: the backlog goes first
    assert (writer.available, writer.trouble) == (True, None)
    row = writer.call(lambda index: index.get_session(session_id)).result()
    assert (row.status, row.command, row.exit_status, row.bytes_in) == ("ended", "second", 3, 5)
    [kept] = writer.call(lambda index: index.failures()).result()
    assert (kept.kind, kept.message, kept.node) == ("node_unreachable", "db2 is gone", "db2")
