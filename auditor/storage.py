"""Where the index and the recordings live: the ``storage:`` URIs (DESIGN §11).

Light on purpose: the config checks these URIs as it loads, and loading the
config must not pull in the index (``auditor ssh`` starts fast).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from auditor.errors import AuditorError

EVENTS_KEY = "storage.audit_events_uri"
SESSIONS_KEY = "storage.audit_sessions_uri"
POSTGRES_SCHEMES = ("postgresql", "postgres")
RECORDINGS_DIR = "recordings"


class StorageError(AuditorError):
    """A storage URI that names nothing we can use, or a store we cannot reach."""


def index_scheme(uri: str) -> str:
    """The engine a URI names; a ``StorageError`` naming the key for any other."""
    scheme = urlsplit(uri.strip()).scheme.lower()
    if scheme in POSTGRES_SCHEMES:
        return "postgresql"
    shown = f"scheme {scheme + '://'!r}" if scheme else "no scheme"
    raise StorageError(
        f"{EVENTS_KEY}: {shown} in {redact(uri)!r} is not an index; expected "
        "postgresql://USER@HOST:PORT/DATABASE, or no value for SQLite in the data directory"
    )


def check_sessions_uri(uri: str | None, data_dir: Path) -> None:
    """Recordings are files in the data directory until object storage lands: a
    ``file://`` URI naming anywhere else is refused rather than quietly ignored."""
    if not uri:
        return
    parts = urlsplit(uri.strip())
    here = (Path(data_dir) / RECORDINGS_DIR).resolve()
    if parts.scheme.lower() != "file" or Path(unquote(parts.path)).resolve() != here:
        raise StorageError(
            f"{SESSIONS_KEY}: {redact(uri)} is not supported yet: recordings are kept in "
            f"{here} (file://{here}, the default)"
        )


def redact(uri: str) -> str:
    """The URI without its password, fit for an error message or a log."""
    parts = urlsplit(uri.strip())
    if parts.password is None:
        return uri.strip()
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))
