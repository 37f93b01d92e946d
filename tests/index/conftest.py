"""The index tests run against both engines: SQLite in the data directory and a
real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.index import SessionIndex


@pytest.fixture(params=["sqlite", "postgresql"])
def index_uri(request: pytest.FixtureRequest) -> str | None:
    """``storage.audit_events_uri``: None is the embedded default."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_uri"))


@pytest.fixture
def index(tmp_path: Path, index_uri: str | None) -> Iterator[SessionIndex]:
    idx = SessionIndex.open(tmp_path, uri=index_uri)
    yield idx
    idx.close()


def text_rows(index: SessionIndex, session_id: str) -> int:
    """How many stretches of text the index holds for a session (either engine)."""
    mark = "?" if index_uri_of(index) is None else "%s"
    sql = f"SELECT count(*) FROM session_text WHERE session_id = {mark}"
    return int(index.conn.execute(sql, [session_id]).fetchone()[0])  # type: ignore[attr-defined]


def index_uri_of(index: SessionIndex) -> str | None:
    return getattr(index, "uri", None)
