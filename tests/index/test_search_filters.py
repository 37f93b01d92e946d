"""Search with filters, and a session's text kept with it, on both engines.

Each text row carries its session's user, node and start (copied, so a
filtered search is one pass over the matches): these tests change, replace
and remove sessions and check that searches still see what a user expects.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from auditor.index import SessionIndex
from auditor.index.rows import SearchHit, Session
from auditor.recording import RecordingWriter, Stream
from auditor.upkeep.text_extraction import extract_text, insert_ended_with_text
from tests.index.conftest import index_uri_of, text_rows


def recording(index: SessionIndex, sid: str, *chunks: bytes) -> Path:
    path = index.recording_path(sid)
    w = RecordingWriter.create(path, {"session_id": sid})
    for i, chunk in enumerate(chunks):
        w.append(Stream.OUTPUT, chunk, 0.1 * (i + 1))
    w.append(Stream.EXIT, b"0", 0.1 * (len(chunks) + 1))
    w.close()
    return path


def session(index: SessionIndex, output: bytes, **fields: object) -> str:
    """An ended session with its text indexed: the newest text of the index."""
    sid = index.new_session_id()
    path = recording(index, sid, output)
    index.start_session(session_id=sid, recording_path=str(path), **fields)
    index.end_session(sid, exit_status=0)
    extract_text(index, sid)
    return sid


def ids(found: Sequence[SearchHit | Session]) -> list[str]:
    return [f.session.id if isinstance(f, SearchHit) else f.id for f in found]


def test_filters_pick_from_all_matches_before_the_page_is_cut(index: SessionIndex) -> None:
    # ann's sessions are the oldest text; everyone's newer sessions print the word too.
    ann = [
        session(index, b"disk error on sda\r\n", user="ann", node="db1", start=1000.0 + i)
        for i in range(3)
    ]
    bob = [
        session(index, b"error: timeout\r\n", user="bob", node="web1", start=2000.0 + i)
        for i in range(6)
    ]
    assert ids(index.search("error", user="ann", limit=2)) == [ann[2], ann[1]]
    assert ids(index.sessions(search="error", node="db1", limit=2)) == [ann[2], ann[1]]
    assert ids(index.search("error", user="ann", node="web1")) == []
    assert ids(index.search("error", since=2004.0)) == [bob[5], bob[4]]
    assert ids(index.search("disk", user="ann", since=1001.0)) == [ann[2], ann[1]]
    assert index.search("error", user="nobody") == []
    # sessions(search=) gives search's sessions in search's order, without lines.
    assert ids(index.sessions(search="err*", limit=4)) == ids(index.search("err*", limit=4))
    assert ids(index.search("err*", limit=4)) == bob[::-1][:4]
    [hit] = index.search("sda", user="ann", limit=1)
    assert (hit.session.id, hit.line) == (ann[2], "disk error on «sda»")

    live = index.new_session_id()
    path = recording(index, live, b"error while live\r\n")
    index.start_session(session_id=live, recording_path=str(path), user="ann", start=900.0)
    extract_text(index, live)
    assert ids(index.search("error", live=True)) == [live]
    assert live not in ids(index.search("error", live=False, limit=None))
    assert ids(index.search("error", live=False, user="ann")) == ann[::-1]


def test_a_session_changed_after_its_text_is_found_by_its_new_values(
    index: SessionIndex,
) -> None:
    moved = session(index, b"kumquat\r\n", user="ann", node="db1", start=1000.0)
    other = session(index, b"kumquat\r\n", user="bob", node="db2", start=5000.0)
    index.update_session(moved, user="carl", node="db3", start=6000.0)
    assert ids(index.search("kumquat", user="carl")) == [moved]
    assert ids(index.search("kumquat", node="db3")) == [moved]
    assert index.search("kumquat", user="ann") == []
    assert ids(index.search("kumquat", since=5500.0)) == [moved]
    assert ids(index.search("kumquat", since=4000.0)) == [other, moved]  # text order


def test_insert_ended_replaces_only_that_sessions_text(index: SessionIndex) -> None:
    kept = session(index, b"alpha stays\r\n", user="ann", start=1000.0)
    sid = index.new_session_id()
    old = recording(index, sid, b"alpha first\r\n")
    insert_ended_with_text(index, sid, start=2000.0, user="bob", recording_path=str(old))
    assert ids(index.search("alpha")) == [sid, kept]

    new = recording(index, sid + "x", b"beta second\r\n", b"more beta\r\n")
    insert_ended_with_text(index, sid, start=3000.0, user="carl", recording_path=str(new))
    assert ids(index.search("alpha")) == [kept]
    assert ids(index.search("beta", user="carl", since=2500.0)) == [sid]
    assert index.search("beta", user="bob") == []
    assert index.search_hits(sid, "beta") == [
        (pytest.approx(0.1), "«beta» second"),
        (pytest.approx(0.2), "more «beta»"),  # each line at its own time
    ]
    assert text_rows(index, sid) == 1
    assert text_rows(index, kept) == 1


def test_removed_sessions_take_their_text_with_them(index: SessionIndex) -> None:
    gone = [session(index, b"shared word\r\n", user="ann") for _ in range(2)]
    kept = session(index, b"shared word\r\n", user="ann")
    assert index.remove_sessions(gone) == 2
    assert ids(index.search("shared", user="ann")) == [kept]
    assert all(text_rows(index, sid) == 0 for sid in gone)


def test_a_sessions_hits_are_its_own_when_its_text_rows_interleave(
    index: SessionIndex,
) -> None:
    # Two live sessions extracted turn by turn: their rows alternate in the index.
    paths, writers = {}, {}
    for name in ("a", "b"):
        sid = index.new_session_id()
        paths[name] = sid
        path = index.recording_path(sid)
        writers[name] = RecordingWriter.create(path, {"session_id": sid})
        index.start_session(session_id=sid, user=name, recording_path=str(path))
    for turn in range(3):
        for name, w in writers.items():
            w.append(Stream.OUTPUT, f"{name} says ping {turn}\r\n".encode(), 0.1 * (turn + 1))
            w.flush()
            extract_text(index, paths[name])
    assert index.search_hits(paths["a"], "ping") == [
        (pytest.approx(0.1 * (turn + 1)), f"a says «ping» {turn}") for turn in range(3)
    ]
    assert ids(index.search("ping", user="b")) == [paths["b"]]
    for w in writers.values():
        w.close()


def test_text_indexed_before_the_upgrade_is_found_with_filters(
    tmp_path: Path, index_uri: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An index at the schema before text rows kept their session's columns.
    from auditor.index import postgres_schema, schema

    module: Any = schema if index_uri is None else postgres_schema
    migrations = module.MIGRATIONS
    monkeypatch.setattr(module, "MIGRATIONS", migrations[:4])
    with SessionIndex.open(tmp_path, uri=index_uri) as old:
        mark = "?" if index_uri_of(old) is None else "%s"
        conn = old.conn  # type: ignore[attr-defined]
        for n, user in enumerate(("ann", "bob")):
            sid = f"{n}" * 32
            conn.execute(
                'INSERT INTO sessions (id, start, status, "user", node, text_done) '
                f"VALUES ({mark}, {mark}, 'ended', {mark}, 'db1', 1)",
                [sid, 1000.0 + n, user],
            )
            if mark == "?":
                conn.execute(
                    "INSERT INTO session_text (text, session_id, t) VALUES (?, ?, 0.5)",
                    ["old kumquat", sid],
                )
            else:
                conn.execute(
                    "INSERT INTO session_text (session_id, t, text, terms) "
                    "VALUES (%s, 0.5, 'old kumquat', 'old:1 kumquat:2')",
                    [sid],
                )
    monkeypatch.setattr(module, "MIGRATIONS", migrations)
    with SessionIndex.open(tmp_path, uri=index_uri) as index:
        assert ids(index.search("kumquat", user="ann")) == ["0" * 32]
        assert ids(index.search("kumquat", node="db1", since=1000.5)) == ["1" * 32]
        assert index.search_hits("1" * 32, "kumquat") == [(0.5, "old «kumquat»")]
        index.remove_sessions(["0" * 32])
        assert ids(index.search("kumquat")) == ["1" * 32]


PLAN_OUTPUTS = [
    b"curl: (7) Failed to connect: Connection refused\r\n",
    b"error: connection reset\r\nretry refused later\r\n",
    b"deploy done, no error\r\n",
    b"ssh: connect to host db1 port 22: Connection refused\r\n",
    b"foobar footprint\r\n",
]
PLAN_QUERIES: list[tuple[str, dict[str, Any]]] = [
    ("error", {}),
    ("connection-refused", {}),
    ("connection refused", {}),
    ("foo*", {}),
    ("error", {"user": "u1"}),
    ("connection-refused", {"node": "n0"}),
    ("refused", {"since": 1003.0}),
    ("error", {"user": "u0", "node": "n1", "since": 1001.0}),
    ("refused", {"live": False}),
    ("nothing-like-this", {}),
]


def test_both_postgresql_plans_find_what_sqlite_finds(
    tmp_path: Path, postgres_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL walks rows newest first or lists the GIN index's matches,
    # whichever its estimates say is cheaper: either must give SQLite's answer.
    from auditor.index import postgres_search

    engines: dict[str, SessionIndex] = {}
    made: dict[str, list[str]] = {}
    for name, uri in (("sqlite", None), ("postgresql", postgres_uri)):
        (tmp_path / name).mkdir()
        engines[name] = index = SessionIndex.open(tmp_path / name, uri=uri)
        made[name] = [
            session(
                index,
                PLAN_OUTPUTS[n % len(PLAN_OUTPUTS)],
                user=f"u{n % 2}",
                node=f"n{n % 3}",
                start=1000.0 + n,
            )
            for n in range(12)
        ]

    def found(name: str, q: str, limit: int | None, filters: dict[str, Any]) -> list[object]:
        hits = engines[name].search(q, limit=limit, **filters)
        return [(made[name].index(h.session.id), h.line) for h in hits]

    try:
        for q, filters in PLAN_QUERIES:
            for limit in (2, 50, None):
                want = found("sqlite", q, limit, filters)
                for walk in (True, False):
                    monkeypatch.setattr(
                        postgres_search, "_walk_is_cheaper", lambda *a, walk=walk: walk
                    )
                    assert found("postgresql", q, limit, filters) == want, (q, filters, walk)
    finally:
        for index in engines.values():
            index.close()
