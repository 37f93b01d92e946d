"""Full-text search on PostgreSQL: newest matches first, the plan chosen here.

The planner prices ``terms @@ query`` on a row as one cheap call, but for
the text sessions printed the call first reads the row's tsvector out of
TOAST (30-180 µs for 5 KB of text, against under 1 µs to visit a row the
GIN index named). Left alone at 100,000 sessions it walked every row
newest first for a word it guessed was in 0.5 % of them and was in none
(1.4 s), and checked every row of a user for a common word (60-200 ms);
for commands it guessed a four-word phrase rare and sorted all 15,000 rows
holding its words (65 ms). So each search takes one of two plans, pinned
with planner settings for its one statement:

- walk: rows newest first (the primary key, or a user's or node's index),
  the query checked on each that passes the filters, stopping at the
  page. Cheap when most rows match: about ``limit`` rows read.
- index: every match from the GIN index, sorted newest first. For words
  without phrases the index answers exactly and no tsvector is read; a
  phrase's candidates (rows holding all its words) are checked a page at a
  time. Cheap when few rows match.

The planner's row estimates (ANALYZE keeps each lexeme's frequency) say
how many rows match and so which costs less. A wrong guess costs the
slower plan of the two, never a walk of the whole table for a word it
believed common.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from auditor.index.query import Filters, Where

PAGE = 1000  # rows a statement returns when every match is wanted
# Costs in rows a walk passes along an index (about 0.5 µs): a row the GIN
# index named, visited in its heap page (2-4 µs), and a row id taken off a
# word's list in the GIN index.
INDEX_ROW_COST = 5.0
GIN_ENTRY_COST = 0.2

WALK = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off"
INDEX = "SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = off; SET LOCAL jit = off"


@dataclass(frozen=True)
class Table:
    """A table with a ``terms`` tsvector, a GIN index on it and an ``id`` in the
    order rows were indexed."""

    name: str
    since: str  # the column ``since`` filters on
    terms_cost: float  # checking a row's terms, in rows a walk passes


TEXT = Table("session_text", "start", 100.0)  # TOASTed: 30-180 µs a row
COMMANDS = Table("commands", '"time"', 1.0)  # a line's few words, in the row


class Runs(Protocol):
    """What this module needs of ``PostgresIndex``."""

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def _execute(self, sql: Any, params: Sequence[Any] = ()) -> Any: ...

    def transaction(self) -> AbstractContextManager[object]: ...


def _where(filters: Filters, table: Table, walk: bool) -> Where:
    # A walk goes newest first along an index; one on the time would read
    # every row since then to sort them instead.
    return filters.where(since=table.since + (" + 0" if walk else ""), live="session_id")


def newest_first(
    ix: Runs,
    table: Table,
    columns: str,
    query: str,
    candidates: str,
    filters: Filters,
    want: int | None,
) -> Iterator[list[tuple[Any, ...]]]:
    """Pages of the rows (``columns``, then ``id``) that match, newest first; stop
    reading when you have enough. ``want`` is about how many rows will be read
    (None: all of them).

    ``candidates`` is ``query`` without its phrases (every word's tokens
    ANDed): the GIN index answers it exactly; the same as ``query`` when
    no word is a phrase.
    """
    walk = want is not None and _walk_is_cheaper(ix, table, query, candidates, filters, want)
    page = want or PAGE
    below: list[int] = []
    while True:
        where = _where(filters, table, walk)
        if walk:
            # Rows newest first along the filters' index, the query checked
            # outside: only rows that pass the filters have their terms read.
            for b in below:
                where.add("id < ?", b)
            sql = (
                f"SELECT {columns}, id FROM (SELECT {columns}, id, terms FROM {table.name} "
                f"{where} ORDER BY id DESC OFFSET 0) t "
                f"WHERE ts_match_vq(terms, ?::tsquery) ORDER BY id DESC LIMIT {page}"
            )
            args = [*where.params, query]
        else:
            # From the GIN index only: ``id + 0`` keeps the key's index out of it.
            where.add("terms @@ ?::tsquery", candidates)
            for b in below:
                where.add("id + 0 < ?", b)
            sql = f"SELECT {columns}, id FROM {table.name} {where} ORDER BY id DESC LIMIT {page}"
            args = where.params
        with ix.transaction():
            ix._execute(WALK if walk else INDEX)
            rows = ix._select(sql, args)
        if not walk and candidates != query and rows:
            confirmed = {
                r[0]
                for r in ix._select(
                    f"SELECT id FROM {table.name} WHERE id = ANY(?) "
                    "AND ts_match_vq(terms, ?::tsquery)",
                    [[r[-1] for r in rows], query],
                )
            }
            yield [r for r in rows if r[-1] in confirmed]
        else:
            yield rows
        if len(rows) < page:
            return
        below = [rows[-1][-1]]


def _walk_is_cheaper(
    ix: Runs, table: Table, query: str, candidates: str, filters: Filters, want: int
) -> bool:
    """The planner's estimates of: the rows that match (``matching``), the GIN
    index's candidates the index plan visits (``named``, with the filters that
    have indexes) out of all it lists for the words (``listed``), the rows of the
    index a walk goes along (``walked``: a user's or node's, or all) and those
    of them that pass every filter (``passing``). A walk passes about
    ``want`` of every ``matching`` rows it walks, checking the terms of the
    passing ones; the index plan reads the words' lists and visits the
    candidates."""
    branches = [
        _where(filters, table, walk=False).add("terms @@ ?::tsquery", query),
        _where(Filters(filters.equal, filters.since), table, walk=False).add(
            "terms @@ ?::tsquery", candidates
        ),
        Where().add("terms @@ ?::tsquery", candidates),
        _where(Filters(filters.equal), table, walk=False),
        _where(filters, table, walk=False),
    ]
    sql = "EXPLAIN (FORMAT JSON) " + " UNION ALL ".join(
        f"SELECT 1 FROM {table.name} {where}" for where in branches
    )
    plan = ix._select(sql, [p for where in branches for p in where.params])[0][0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    estimates = [max(float(p["Plan Rows"]), 1.0) for p in plan[0]["Plan"].get("Plans", [])]
    if len(estimates) != len(branches):
        return False  # a plan of another shape: the index plan is never a disaster
    matching, named, listed, walked, passing = estimates
    passed = min(walked, walked * want / matching)
    walk = passed * (1 + table.terms_cost * passing / walked)
    return walk < INDEX_ROW_COST * named + GIN_ENTRY_COST * listed
