"""The session index (DESIGN §7, §11): sessions, failures and full-text search,
behind one interface with an SQLite and a PostgreSQL engine.

Headless: never imports the TUI.
"""

from auditor.index.api import SessionIndex
from auditor.index.engines import open_index
from auditor.index.failure_kinds import HINTS, FailureKind
from auditor.index.rows import Failure, SearchHit, Session

__all__ = [
    "HINTS",
    "Failure",
    "FailureKind",
    "SearchHit",
    "Session",
    "SessionIndex",
    "open_index",
]
