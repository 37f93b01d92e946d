"""The session index (DESIGN §7): sessions, failures and full-text search in SQLite.

Headless: never imports the TUI.
"""

from auditor.index.failures import HINTS, FailureKind
from auditor.index.rows import Failure, SearchHit, Session
from auditor.index.store import SessionIndex

__all__ = ["HINTS", "Failure", "FailureKind", "SearchHit", "Session", "SessionIndex"]
