"""Where a recording is: a file or an object, never a Path over a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.index.rows import Session
from auditor.recording.source import FileSource, RecordingLocation, object_url

URL = "s3://recordings/prod/ab/ab12.rec?endpoint=http%3A%2F%2F127.0.0.1%3A9000"


def test_the_text_the_index_keeps_reads_back_as_the_same_place() -> None:
    obj = RecordingLocation.of(URL)
    assert obj.url == URL and obj.path is None and obj.is_object
    assert str(obj) == URL and obj.name == "ab12.rec"
    file = RecordingLocation.of("/var/lib/auditor/recordings/ab/ab12.rec")
    assert file.path == Path("/var/lib/auditor/recordings/ab/ab12.rec") and not file.is_object
    assert str(RecordingLocation.of(str(file))) == str(file) and file.name == "ab12.rec"
    assert isinstance(file.source(), FileSource)
    assert object_url(obj) == URL and object_url(file) is None


def test_a_location_is_exactly_one_place() -> None:
    with pytest.raises(ValueError):
        RecordingLocation()
    with pytest.raises(ValueError):
        RecordingLocation(path=Path("/x.rec"), url=URL)


def test_rows_hand_out_their_recording_typed() -> None:
    assert Session("a", 0.0, "ended").recording is None
    row = Session("a", 0.0, "ended", recording_path=URL)
    assert row.recording == RecordingLocation(url=URL)
