"""The query layer both engines share: the same answers from SQLite and PostgreSQL
for paging, failures and lists of ids longer than SQLite binds at once."""

from __future__ import annotations

import time

import pytest

from auditor.index import SessionIndex
from auditor.index.query import BATCH, POSTGRES, SQLITE, Filters

NOW = 1_700_000_000.0


def ended(index: SessionIndex, n: int, **fields: object) -> list[str]:
    """``n`` sessions over, one a second back from NOW, in one transaction."""
    ids = [f"{i:032x}" for i in range(n)]
    row = {"user": "bulk", "node": "n1", **fields}
    with index.transaction():
        for i, sid in enumerate(ids):
            index.insert_ended(sid, start=NOW - i, end=NOW - i + 0.5, **row)
    return ids


def test_paging_walks_every_past_session_once_in_order(index: SessionIndex) -> None:
    with index.transaction():
        for i in range(7):  # pairs that started at the same moment: the id breaks the tie
            index.insert_ended(f"{i:032x}", start=NOW - i // 2, user="ann" if i % 3 else "bob")
        index.insert_ended("f" * 32, status="interrupted", start=NOW - 10, user="ann")
    index.start_session(session_id="e" * 32, start=NOW + 5, user="ann")  # live: not a page's
    pages, after = [], None
    while page := index.page(after=after, limit=3):
        pages.append([s.id[0] if s.id[0] in "ef" else s.id[-1] for s in page])
        after = page[-1]
    assert pages == [["1", "0", "3"], ["2", "5", "4"], ["6", "f"]]
    ann = index.page(user="ann", limit=100)
    assert [s.id[-1] for s in ann] == ["1", "2", "5", "4", "f"]
    assert [s.id for s in index.page(status="interrupted")] == ["f" * 32]
    assert index.page(status="live") == []


def test_failures_by_kind_since_and_their_summary(index: SessionIndex) -> None:
    now = time.time()
    for kind, ago in (
        ("user_auth_failed", 30),
        ("user_auth_failed", 3000),
        ("node_unreachable", 10),
    ):
        fid = index.record_failure(kind, "m")
        index._change('UPDATE failures SET "time" = ? WHERE id = ?', [now - ago, fid])  # type: ignore[attr-defined]
    assert [f.kind for f in index.failures()] == [
        "node_unreachable",
        "user_auth_failed",
        "user_auth_failed",
    ]
    assert len(index.failures(kind="user_auth_failed")) == 2
    assert [f.kind for f in index.failures(since=now - 60)] == [
        "node_unreachable",
        "user_auth_failed",
    ]
    assert len(index.failures(limit=1)) == 1
    summary = {s.kind: s for s in index.failure_summary(now - 3600, 4, now)}
    assert (summary["user_auth_failed"].count, summary["user_auth_failed"].activity) == (
        2,
        [1, 0, 0, 1],
    )
    assert summary["node_unreachable"].activity == [0, 0, 0, 1]
    assert index.count_failures(now - 60) == 1
    assert index.remove_failures(now - 60) == 1
    assert len(index.failures()) == 2


def test_lists_of_ids_longer_than_a_batch(index: SessionIndex) -> None:
    ids = ended(index, BATCH + 20)
    index.hold(ids[-1], "ann", "case 7")
    index.add_review(ids[0], "ann")
    assert len(index._sessions_by_id(ids)) == BATCH + 20  # type: ignore[attr-defined]
    assert index.copied_sessions(ids) == {}  # their commands not read yet
    index._change("UPDATE sessions SET commands_done = 1")  # type: ignore[attr-defined]
    assert len(index.copied_sessions(ids)) == BATCH + 20
    assert index.failure_ids(ids) == set()
    assert index.termination_requests(ids) == []
    assert list(index.holds(ids)) == [ids[-1]]
    assert list(index.reviews(ids)) == [ids[0]]
    assert len(index.sessions(user="bulk", limit=None)) == BATCH + 20
    assert index.remove_sessions(ids) == BATCH + 19  # the held one stays
    assert [s.id for s in index.sessions(limit=None)] == [ids[-1]]
    assert index.remove_sessions([]) == 0


def test_dialects_differ_only_where_the_engines_do() -> None:
    sql = "SELECT 1 FROM t WHERE a = ? AND b LIKE 's3:%'"
    assert SQLITE.render(sql) == sql
    assert POSTGRES.render(sql) == "SELECT 1 FROM t WHERE a = %s AND b LIKE 's3:%%'"
    ids = [str(i) for i in range(BATCH * 2 + 1)]
    assert [len(p) for _, p in SQLITE.among("id", ids)] == [BATCH, BATCH, 1]
    assert list(POSTGRES.among("id", ids)) == [("id = ANY(?)", [ids])]
    assert list(POSTGRES.among("id", [])) == list(SQLITE.among("id", [])) == []
    assert SQLITE.before("start", "id", (5.0, "x")) == (
        "(start < ? OR (start = ? AND id < ?))",
        [5.0, 5.0, "x"],
    )
    assert POSTGRES.before("start", "id", (5.0, "x")) == ("(start, id) < (?, ?)", [5.0, "x"])


@pytest.mark.parametrize(
    ("filters", "alias", "live", "clauses", "params"),
    [
        (Filters.of(user="ann", node=None), "", "status", ['"user" = ?'], ["ann"]),
        (
            Filters.of(since=5.0, live=True, user="ann"),
            "r",
            "session_id",
            ['r."user" = ?', "r.start >= ?", "r.session_id IN (SELECT id FROM sessions "
             "WHERE status = 'live')"],
            ["ann", 5.0],
        ),
        (Filters.of(live=False), "", "status", ["status != 'live'"], []),
    ],
)  # fmt: skip
def test_filters_read_the_same_on_every_table(
    filters: Filters, alias: str, live: str, clauses: list[str], params: list[object]
) -> None:
    where = filters.where(alias, live=live)
    assert (where.clauses, where.params) == (clauses, params)
