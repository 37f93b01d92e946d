"""Which engine holds the index: ``storage.audit_events_uri`` decides.

No URI is the embedded default, SQLite in the data directory, which needs
no setup. ``postgresql://`` is a shared server several proxies and TUIs
use at once (DESIGN §11). Anything else is refused in one line naming the
key, before anything is opened.
"""

from __future__ import annotations

from pathlib import Path

from auditor.index.api import SessionIndex
from auditor.storage import index_scheme


def open_index(data_dir: Path, uri: str | None = None) -> SessionIndex:
    """The index ``uri`` names, migrated to the current schema; SQLite in ``data_dir``
    without one. Recordings stay in ``data_dir`` either way (for now)."""
    if not uri:
        from auditor.index.sqlite import SqliteIndex

        return SqliteIndex.connect(Path(data_dir))
    index_scheme(uri)  # postgresql, or a StorageError naming the key
    from auditor.index.postgres import PostgresIndex

    return PostgresIndex.connect(uri, Path(data_dir))
