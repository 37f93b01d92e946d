"""What only the PostgreSQL engine has to get right: a server that goes away."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from auditor.index import SessionIndex
from auditor.storage import StorageError


def test_a_lost_server_mid_command_is_one_line_naming_the_key(
    tmp_path: Path, postgres_uri: str
) -> None:
    with SessionIndex.open(tmp_path, uri=postgres_uri) as index:
        index.start_session(user="joe")
        pid = index.conn.info.backend_pid  # type: ignore[attr-defined]
        with psycopg.connect(postgres_uri, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(StorageError) as info:
            index.sessions()
        message = str(info.value)
        assert message.startswith("storage.audit_events_uri: lost postgresql://postgres:***@")
        assert "\n" not in message
        # The next command connects again (a proxy outlives a database restart).
        index.insert_ended("ab" * 16, start=1.0, end=2.0, user="ann")
    with SessionIndex.open(tmp_path, uri=postgres_uri) as index:
        assert sorted(str(s.user) for s in index.sessions()) == ["ann", "joe"]
