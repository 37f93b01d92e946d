"""Where the index and the recordings live: the ``storage:`` URIs (DESIGN §11).

Light on purpose: the config checks these URIs as it loads, and loading the
config must not pull in the index (``auditor ssh`` starts fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urlsplit, urlunsplit

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


@dataclass(frozen=True)
class BucketAddress:
    """Where recordings go in object storage: ``s3://BUCKET/PREFIX?endpoint=URL&region=NAME``."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    region: str | None = None

    @classmethod
    def parse(cls, uri: str, key: str = SESSIONS_KEY) -> BucketAddress:
        parts = urlsplit(uri.strip())
        if parts.scheme.lower() != "s3" or not parts.netloc:
            raise StorageError(f"{key}: expected s3://BUCKET/PREFIX, got {redact(uri)!r}")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"endpoint", "region"})
        if unknown:
            raise StorageError(f"{key}: unknown parameter {unknown[0]!r} (endpoint, region)")
        endpoint = query.get("endpoint")
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise StorageError(f"{key}: endpoint {endpoint!r} is not an http(s) URL")
        return cls(parts.netloc, parts.path.strip("/"), endpoint, query.get("region"))

    def url(self, name: str = "") -> str:
        """The ``s3://`` URL of ``name`` under the prefix, endpoint and region kept,
        so the index's ``recording_path`` alone says where to read it. The
        endpoint is percent-encoded: no ``//`` in the query for ``Path()`` to fold."""
        path = "/".join(p for p in (self.prefix, name) if p)
        query = {k: v for k, v in (("endpoint", self.endpoint), ("region", self.region)) if v}
        return f"s3://{self.bucket}/{path}" + (f"?{urlencode(query)}" if query else "")


def sessions_bucket(uri: str | None) -> BucketAddress | None:
    """The bucket ``storage.audit_sessions_uri`` names, or None for files in the data dir."""
    if uri and urlsplit(uri.strip()).scheme.lower() == "s3":
        return BucketAddress.parse(uri)
    return None


def check_sessions_uri(uri: str | None, data_dir: Path) -> None:
    """Recordings are files in the data directory or objects in a bucket: a
    ``file://`` URI naming anywhere else is refused rather than quietly ignored."""
    if not uri or sessions_bucket(uri) is not None:
        return
    parts = urlsplit(uri.strip())
    here = (Path(data_dir) / RECORDINGS_DIR).resolve()
    if parts.scheme.lower() != "file" or Path(unquote(parts.path)).resolve() != here:
        raise StorageError(
            f"{SESSIONS_KEY}: {redact(uri)} is not supported: recordings are kept in "
            f"{here} (file://{here}, the default) or in a bucket "
            "(s3://BUCKET/PREFIX?endpoint=URL&region=NAME)"
        )


def redact(uri: str) -> str:
    """The URI without its password, fit for an error message or a log."""
    parts = urlsplit(uri.strip())
    if parts.password is None:
        return uri.strip()
    user, _, host = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}"))
