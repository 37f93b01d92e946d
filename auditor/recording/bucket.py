"""Recordings in S3-compatible object storage (``storage.audit_sessions_uri: s3://``).

The only module that talks to object storage. A sealed recording is one
object; its ``.idx`` and ``.keyframes`` sidecars are objects beside it (same
key plus the suffix), so the hash chain and the seek index travel with it and
a reader fetches only the part it needs. Readers get a seekable file over
ranged GETs (``RangedFile``), so ``RecordingReader`` reads an object the way
it reads a file.

The client is obstore (Rust's ``object_store``): one store object with a sync
API (readers, the CLI) and an async one (the proxy's loop), multipart uploads
for large objects, connection reuse, and the GIL released while it waits. It
speaks to AWS S3, MinIO or any S3-compatible endpoint alike: the endpoint URL
is the only difference. Credentials come from the AWS environment variables,
else from the shared credentials file (``AWS_SHARED_CREDENTIALS_FILE``, else
``~/.aws/credentials``, section ``AWS_PROFILE`` or ``default``).
"""

from __future__ import annotations

import configparser
import io
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import obstore
from obstore.exceptions import BaseError, NotFoundError
from obstore.store import S3Store

from auditor.recording.format import ANCHOR_SUFFIX, INDEX_ENTRY, INDEX_SUFFIX, KEYFRAMES_SUFFIX
from auditor.storage import SESSIONS_KEY, BucketAddress, StorageError

BLOCK = 256 * 1024  # one ranged GET; seeks read a block or two, not the object
CACHED_BLOCKS = 16
SIDECARS = (INDEX_SUFFIX, KEYFRAMES_SUFFIX, ANCHOR_SUFFIX)  # the signed anchor travels too
REFUSED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
# Fail fast when the store is away: the proxy retries later, a command says so in one line.
CLIENT_OPTIONS: dict[str, Any] = {"connect_timeout": "3s", "timeout": "120s"}
RETRY: dict[str, Any] = {"max_retries": 2, "retry_timeout": timedelta(seconds=10)}


class BucketError(StorageError):
    """Object storage we cannot use: a missing bucket, an endpoint away, an object gone."""


@dataclass(frozen=True)
class StoredObject:
    key: str  # in the bucket, under the prefix
    size: int


def _profile_credentials() -> dict[str, str]:
    """Static keys from the shared credentials file, when the environment has none."""
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    path = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or str(Path.home() / ".aws/credentials")
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return {}
    section = os.environ.get("AWS_PROFILE") or "default"
    if not parser.has_section(section):
        return {}
    found = parser[section]
    keys = {
        "access_key_id": found.get("aws_access_key_id"),
        "secret_access_key": found.get("aws_secret_access_key"),
        "token": found.get("aws_session_token"),
    }
    return {k: v for k, v in keys.items() if v}


def _store(address: BucketAddress) -> S3Store:
    config: dict[str, Any] = dict(_profile_credentials())
    options = dict(CLIENT_OPTIONS)
    if address.endpoint:
        # MinIO and most S3-compatible servers address buckets by path.
        config.update(endpoint=address.endpoint, virtual_hosted_style_request=False)
        options["allow_http"] = address.endpoint.startswith("http://")
    if address.region:
        config["region"] = address.region
    elif not os.environ.get("AWS_REGION") and not os.environ.get("AWS_DEFAULT_REGION"):
        config["region"] = "us-east-1"
    return S3Store(
        address.bucket,
        prefix=address.prefix or None,
        config=config,  # type: ignore[arg-type]
        client_options=options,  # type: ignore[arg-type]
        retry_config=RETRY,  # type: ignore[arg-type]
    )


def _failure(exc: BaseException) -> str:
    """The first line of an obstore error, which names what the store answered."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def object_address(url: str) -> tuple[BucketAddress, str]:
    """The bucket an object's URL names (endpoint and region kept, no prefix) and the
    object's key in it: the recordings of every prefix in one bucket share a client."""
    address = BucketAddress.parse(url, "recording")
    return BucketAddress(address.bucket, "", address.endpoint, address.region), address.prefix


class Bucket:
    """The recordings' bucket: check it at start, upload sealed recordings, read
    them, delete them when the retention policy lets them go."""

    def __init__(self, uri: str | BucketAddress, key: str = SESSIONS_KEY) -> None:
        self.key = key
        self.address = uri if isinstance(uri, BucketAddress) else BucketAddress.parse(uri, key)
        self.store = _store(self.address)

    def describe(self) -> str:
        return self.address.url()

    def check(self) -> None:
        """One request, so a missing bucket or an endpoint away is one line at start."""
        try:
            obstore.list_with_delimiter(self.store, None)
        except BaseError as exc:
            raise BucketError(self._what_failed(exc)) from None

    def _what_failed(self, exc: BaseException) -> str:
        where = self.address.endpoint or "AWS S3"
        text = str(exc)
        if "NoSuchBucket" in text or isinstance(exc, NotFoundError):
            return f"{self.key}: bucket {self.address.bucket!r} does not exist at {where}"
        if any(word in text for word in REFUSED):
            return f"{self.key}: {where} refused access to bucket {self.address.bucket!r}"
        if "error sending request" in text or "connect" in text.lower():
            return f"{self.key}: cannot reach {where} (connection failed)"
        return f"{self.key}: {where}: {_failure(exc)}"

    def upload(self, recording: Path, name: str) -> str:
        """Upload a sealed recording and its sidecars; its URL once all are stored.

        The recording goes last: an object there means its sidecars are there too."""
        try:
            for suffix in SIDECARS:
                sidecar = recording.with_name(recording.name + suffix)
                if sidecar.exists():
                    obstore.put(self.store, name + suffix, sidecar)
            obstore.put(self.store, name, recording)
        except BaseError as exc:
            raise BucketError(self._what_failed(exc)) from None
        return self.address.url(name)

    def upload_missing(self, recording: Path, name: str) -> tuple[str, int]:
        """``upload``, sending only the files whose object is not there with the
        same size (a copy resumed after an interruption); the URL and the bytes sent.

        The recording still goes last, so its object still means its sidecars
        are there; an upload cut off midway leaves no object (a PUT, or a
        multipart upload, completes whole or not at all)."""
        sent = 0
        try:
            for path, key in [
                *((recording.with_name(recording.name + s), name + s) for s in SIDECARS),
                (recording, name),
            ]:
                if path is not recording and not path.exists():
                    continue
                size = path.stat().st_size
                if self.object_size(key) != size:
                    obstore.put(self.store, key, path)
                    sent += size
        except BaseError as exc:
            raise BucketError(self._what_failed(exc)) from None
        return self.address.url(name), sent

    def object_size(self, name: str) -> int | None:
        """The size of the object ``name`` under the prefix; None if there is none."""
        try:
            return int(obstore.head(self.store, name)["size"])
        except (FileNotFoundError, NotFoundError):  # obstore raises the built-in one now
            return None
        except BaseError as exc:
            raise BucketError(self._what_failed(exc)) from None

    def stored(self, name: str) -> list[StoredObject]:
        """The recording ``name`` and its sidecars as the bucket holds them now."""
        found = []
        for key in (name, *(name + suffix for suffix in SIDECARS)):
            try:
                found.append(StoredObject(key, int(obstore.head(self.store, key)["size"])))
            except (NotFoundError, FileNotFoundError):  # obstore raises the latter
                continue
            except BaseError as exc:
                raise BucketError(self._not_deleted(exc, name)) from None
        return found

    def delete(self, name: str) -> list[StoredObject]:
        """Delete the recording ``name`` and its sidecars; what went. One gone
        already counts as deleted, so a prune cut short is finished by the next.

        The recording goes first: an object there still means its sidecars are there."""
        found = self.stored(name)
        try:
            for stored in found:
                obstore.delete(self.store, stored.key)
        except BaseError as exc:
            raise BucketError(self._not_deleted(exc, name)) from None
        return found

    def _not_deleted(self, exc: BaseException, name: str) -> str:
        return f"{self._what_failed(exc)}; {self.address.url(name).partition('?')[0]} not deleted"

    async def upload_async(self, recording: Path, name: str) -> str:
        try:
            for suffix in SIDECARS:
                sidecar = recording.with_name(recording.name + suffix)
                if sidecar.exists():
                    await obstore.put_async(self.store, name + suffix, sidecar)
            await obstore.put_async(self.store, name, recording)
        except BaseError as exc:
            raise BucketError(self._what_failed(exc)) from None
        return self.address.url(name)


def object_source(url: str) -> ObjectSource:
    address = BucketAddress.parse(url, "recording")
    # The store's prefix is the object's folder; the key is its name in it.
    folder, _, name = address.prefix.rpartition("/")
    folder_address = BucketAddress(address.bucket, folder, address.endpoint, address.region)
    return ObjectSource(url, _store(folder_address), name)


class ObjectSource:
    """A sealed recording in a bucket, read with ranged GETs (``RecordingSource``)."""

    def __init__(self, url: str, store: S3Store, key: str) -> None:
        self.url = url
        self.store = store
        self.key = key
        self._size: int | None = None
        self._sidecars: dict[str, bytes | None] = {}
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self.fetched = 0  # bytes of the recording its ranged GETs returned

    @property
    def name(self) -> str:
        return self.url.partition("?")[0]

    def size(self) -> int:
        if self._size is None:
            try:
                self._size = int(obstore.head(self.store, self.key)["size"])
            except (NotFoundError, FileNotFoundError):  # obstore raises the built-in one
                raise FileNotFoundError(self.name) from None
            except BaseError as exc:
                raise BucketError(f"{self.name}: {_failure(exc)}") from None
        return self._size

    def block(self, number: int) -> bytes:
        """Block ``number`` of the object, from the cache or one ranged GET."""
        block = self._blocks.get(number)
        if block is not None:
            self._blocks.move_to_end(number)
            return block
        start = number * BLOCK
        try:
            got = obstore.get_range(self.store, self.key, start=start, end=start + BLOCK)
        except (NotFoundError, FileNotFoundError):  # obstore raises the built-in one
            raise FileNotFoundError(self.name) from None
        except BaseError as exc:
            raise BucketError(f"{self.name}: {_failure(exc)}") from None
        block = bytes(got)
        self.fetched += len(block)
        self._blocks[number] = block
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return block

    def open(self) -> BinaryIO:
        return io.BufferedReader(RangedFile(self), buffer_size=BLOCK)

    def sidecar(self, suffix: str) -> bytes | None:
        if suffix not in self._sidecars:
            try:
                self._sidecars[suffix] = bytes(obstore.get(self.store, self.key + suffix).bytes())
            except (NotFoundError, FileNotFoundError):  # obstore raises the built-in one
                self._sidecars[suffix] = None
            except BaseError as exc:
                raise BucketError(f"{self.name}{suffix}: {_failure(exc)}") from None
        return self._sidecars[suffix]

    def last_index_entry(self) -> tuple[int, float, int] | None:
        raw = self.sidecar(INDEX_SUFFIX)
        if not raw or len(raw) < INDEX_ENTRY.size:
            return None
        end = len(raw) - len(raw) % INDEX_ENTRY.size
        offset, t, seq = INDEX_ENTRY.unpack_from(raw, end - INDEX_ENTRY.size)
        return offset, t, seq


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over the object's blocks (cached by the
    source): reading from a seek point fetches the blocks it touches, not the
    object."""

    def __init__(self, source: ObjectSource) -> None:
        self.source = source
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self.pos
        elif whence == io.SEEK_END:
            offset += self.source.size()
        if offset < 0:
            raise ValueError(f"negative seek position {offset}")
        self.pos = offset
        return self.pos

    def readinto(self, buffer: Any) -> int:
        size = self.source.size()
        if self.pos >= size:
            return 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), size - self.pos)
        done = 0
        while done < n:
            number, within = divmod(self.pos + done, BLOCK)
            block = self.source.block(number)
            take = min(n - done, len(block) - within)
            if take <= 0:
                break
            view[done : done + take] = block[within : within + take]
            done += take
        self.pos += done
        return done
