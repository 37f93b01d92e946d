"""Recordings sealed into S3-compatible object storage and read back from there,
through the same client that talks to AWS S3 or MinIO (moto's server here)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import pytest

from auditor.recording import RecordingReader, RecordingWriter, Stream
from auditor.recording.bucket import Bucket, BucketError, ObjectSource
from auditor.recording.source import RecordingLocation
from auditor.recording.verification import verify_recording
from auditor.replay.recorded import recording_keyframes
from tests.harness.s3 import S3Server, free_port
from tests.recording.helpers import payloads, write_sample


def test_a_sealed_recording_reads_the_same_from_its_object(s3: S3Server, tmp_path: Path) -> None:
    s3.create_bucket("recordings")
    local = write_sample(tmp_path / "rec")
    bucket = Bucket(s3.uri("recordings"))
    bucket.check()
    url = bucket.upload(local, "2026/11/27/s1.rec")
    assert s3.keys("recordings") == ["prod/2026/11/27/s1.rec", "prod/2026/11/27/s1.rec.idx"]
    where = urlencode({"endpoint": s3.endpoint, "region": "us-east-1"})
    assert url == f"s3://recordings/prod/2026/11/27/s1.rec?{where}"

    remote = RecordingReader(url)
    assert remote.meta == RecordingReader(local).meta
    assert [(r.t, r.stream, r.data) for r in remote.records()] == payloads(local)
    assert remote.summary() == RecordingReader(local).summary()
    verdict = verify_recording(url, RecordingReader(local).summary().final_hash)
    assert verdict.ok and verdict.sealed, verdict.describe()
    # The index's text, read back as a location, is the same object.
    assert RecordingReader(RecordingLocation.of(url)).summary() == remote.summary()
    # No keyframes were uploaded: the sidecar is absent, not an error.
    assert remote.source.sidecar(".keyframes") is None
    missing = url.replace("s1.rec", "s2.rec")
    with pytest.raises(FileNotFoundError, match=r"s2\.rec"):
        ObjectSource(missing, remote.source.store, "s2.rec").size()  # type: ignore[attr-defined]


def test_seeking_in_a_large_object_fetches_a_small_part_of_it(s3: S3Server, tmp_path: Path) -> None:
    s3.create_bucket("recordings")
    local = tmp_path / "big.rec"
    chunk = bytes(range(256)) * 64  # 16 KiB
    with RecordingWriter.create(local, {"session_id": "big"}) as w:
        for i in range(1280):  # 20 MiB of output over 1280 s, a checkpoint every 10 s
            w.append(Stream.OUTPUT, chunk, float(i))
            if i % 10 == 9:
                w.flush()
    size = local.stat().st_size
    assert size > 20 * 1024 * 1024
    built = recording_keyframes(local)  # as the proxy's text child does once it ends
    url = Bucket(s3.uri("recordings")).upload(local, "big.rec")  # multipart: over 5 MiB
    assert s3.keys("recordings") == ["prod/big.rec", "prod/big.rec.idx", "prod/big.rec.keyframes"]

    reader = RecordingReader(url)
    assert isinstance(reader.source, ObjectSource)
    first = next(iter(reader.records(1000.0)))
    assert (first.t, first.data) == (1000.0, chunk)
    # The header, the sidecar's hint and the blocks around the seek point: not the object.
    assert reader.source.fetched < size // 20, (reader.source.fetched, size)
    # Replay's seek points travelled with it: read from their object, not rebuilt.
    keyframes = recording_keyframes(reader.source)
    assert [k.t for k in keyframes.keyframes] == [k.t for k in built.keyframes]
    assert reader.source.fetched < size // 20, (reader.source.fetched, size)


def test_a_missing_bucket_and_an_unreachable_endpoint_are_one_line(s3: S3Server) -> None:
    with pytest.raises(BucketError) as missing:
        Bucket(s3.uri("no-such-bucket")).check()
    assert str(missing.value) == (
        f"storage.audit_sessions_uri: bucket 'no-such-bucket' does not exist at {s3.endpoint}"
    )
    away = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BucketError) as unreachable:
        Bucket(f"s3://recordings/prod?endpoint={away}").check()
    assert str(unreachable.value) == (
        f"storage.audit_sessions_uri: cannot reach {away} (connection failed)"
    )


def test_the_secret_key_is_never_in_a_message(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-show-this")
    with pytest.raises(BucketError) as missing:
        Bucket(s3.uri("no-such-bucket")).check()
    assert "do-not-show-this" not in str(missing.value)
