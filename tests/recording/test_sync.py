"""The syncer's thread: which files it syncs, how often, and never a reused descriptor.

Every fsync and fdatasync goes through a spy that notes the path the
descriptor names at that moment (``/proc/self/fd``) and the calling thread,
then makes the real call on real files.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor.config import ConfigError, load_config
from auditor.recording import RecordingWriter, Stream
from auditor.recording.sync import RecordingSyncer


@dataclass
class Spy:
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # call, path, thread
    hold: Callable[[str, str], threading.Event | None] = lambda call, path: None

    def on(self, path: Path, call: str = "fdatasync") -> int:
        return sum(1 for c, p, _ in self.calls if c == call and p == str(path))


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    seen = Spy()

    def wrap(real: Callable[[int], None], name: str) -> Callable[[int], None]:
        def call(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            seen.calls.append((name, path, threading.current_thread().name))
            gate = seen.hold(name, path)
            if gate is not None:
                assert gate.wait(10)
            real(fd)

        return call

    monkeypatch.setattr(os, "fsync", wrap(os.fsync, "fsync"))
    monkeypatch.setattr(os, "fdatasync", wrap(os.fdatasync, "fdatasync"))
    yield seen


def new_writer(syncer: RecordingSyncer, path: Path) -> RecordingWriter:
    writer = RecordingWriter.create(path, {"session_id": path.stem})
    syncer.track(writer).result(10)
    return writer


def write(writer: RecordingWriter, data: bytes = b"line\r\n") -> None:
    writer.append(Stream.OUTPUT, data)
    writer.flush()


def test_a_new_recording_and_its_directories_are_on_the_disk_before_track_returns(
    tmp_path: Path, spy: Spy
) -> None:
    syncer = RecordingSyncer(1.0)
    path = tmp_path / "recordings" / "ab" / "ab12.rec"
    writer = new_writer(syncer, path)
    calls = [(c, p) for c, p, _ in spy.calls]
    assert calls[:2] == [("fsync", str(path)), ("fsync", f"{path}.idx")]
    assert sorted(calls[2:]) == [("fsync", str(path.parent.parent)), ("fsync", str(path.parent))]
    assert all(t.startswith("auditor-sync") for _, _, t in spy.calls)  # not the caller
    writer.close()
    syncer.seal(writer).result(10)
    syncer.close()


def test_only_recordings_that_wrote_are_synced_once_an_interval_in_shared_rounds(
    tmp_path: Path, spy: Spy
) -> None:
    syncer = RecordingSyncer(0.3)
    # Created together (a burst of logins): synced at creation in one round.
    busy = [RecordingWriter.create(tmp_path / f"busy{i}.rec", {}) for i in range(10)]
    idle = [RecordingWriter.create(tmp_path / f"idle{i}.rec", {}) for i in range(10)]
    for created in [syncer.track(writer) for writer in busy + idle]:
        created.result(10)
    before = syncer.stats.rounds, syncer.stats.files
    writes = 0
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:  # each busy one writes 50 times a second
        for writer in busy:
            write(writer)
            writes += 1
        time.sleep(0.02)
    time.sleep(0.4)  # the last writes' round
    rounds, files = syncer.stats.rounds - before[0], syncer.stats.files - before[1]
    for writer in busy:
        count = spy.on(writer.path)
        # 1.2 s at 0.3 s: four or five syncs, where there were ~60 writes
        assert 3 <= count <= 6, count
        assert spy.on(f"{writer.path}.idx") == count  # its sidecar each time
    for writer in idle:
        assert spy.on(writer.path) == 0  # nothing written, nothing synced
    # The busy ones come due together: a round syncs many of them, on several threads.
    assert files >= 40 and rounds <= files / 5, (rounds, files, writes)
    assert any(t.startswith("auditor-sync-help") for _, _, t in spy.calls)
    for writer in busy + idle:
        writer.close()
        syncer.seal(writer).result(10)
    syncer.close()


def test_interval_zero_syncs_after_every_flush(tmp_path: Path, spy: Spy) -> None:
    syncer = RecordingSyncer(0)
    writer = new_writer(syncer, tmp_path / "a.rec")
    for _ in range(5):
        write(writer)
        time.sleep(0.05)
    assert spy.on(writer.path) == 5
    writer.close()
    syncer.seal(writer).result(10)
    assert spy.on(writer.path) == 6  # and the seal
    syncer.close()


def test_a_descriptor_closed_and_reused_mid_round_is_never_synced(
    tmp_path: Path, spy: Spy, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer closes its file while the thread is inside a sync of it, and
    another file takes the number: the thread syncs only its own duplicates,
    the seal waits for its sync, and the duplicates are closed after it."""
    syncer = RecordingSyncer(0)
    writer = new_writer(syncer, tmp_path / "a.rec")
    inside, go = threading.Event(), threading.Event()

    def hold(call: str, path: str) -> threading.Event | None:
        if call == "fdatasync" and path == str(writer.path) and not inside.is_set():
            inside.set()
            return go
        return None

    spy.hold = hold
    write(writer)
    assert inside.wait(10)  # the thread is in the middle of its round
    numbers = (writer._fd, writer._index_fd)
    writer.close()
    other = os.open(tmp_path / "other", os.O_WRONLY | os.O_CREAT)
    assert other in numbers  # the number the writer had now names another file
    asked = len(spy.calls)
    sealed = syncer.seal(writer)
    done_at: list[int] = []
    sealed.add_done_callback(lambda _: done_at.append(len(spy.calls)))
    assert not sealed.done()  # not before the seal is on the disk
    go.set()
    sealed.result(10)
    # Done after a sync of the recording that began after the seal was asked for,
    # not at the end of the round that was under way then.
    assert str(writer.path) in [p for _, p, _ in spy.calls[asked : done_at[0]]]
    syncer.close()
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    synced = [p for _, p, _ in spy.calls]
    assert str(tmp_path / "other") not in synced
    assert synced[-2:] == [str(writer.path), f"{writer.path}.idx"]  # the seal's own sync
    assert not {str(writer.path), f"{writer.path}.idx"} & open_files()  # no leak
    os.close(other)
    syncer.close()


def test_off_tracks_nothing_and_a_forgotten_recording_is_not_synced(
    tmp_path: Path, spy: Spy
) -> None:
    off = RecordingSyncer(None)
    writer = RecordingWriter.create(tmp_path / "a.rec", {})
    assert off.track(writer).done() and writer.on_write is None
    write(writer)
    writer.close()
    assert off.seal(writer).done()
    off.close()
    syncer = RecordingSyncer(0)
    refused = new_writer(syncer, tmp_path / "b.rec")
    calls = len(spy.calls)
    syncer.forget(refused)
    refused.close()
    syncer.close()
    assert spy.calls[calls:] == [] and spy.on(writer.path) == 0
    assert syncer.unsealed() == set()


def test_close_syncs_what_is_still_due_and_a_later_seal_is_not_lost(
    tmp_path: Path, spy: Spy
) -> None:
    syncer = RecordingSyncer(5.0)
    writer = new_writer(syncer, tmp_path / "a.rec")
    write(writer)  # due 5 s after the creation's sync
    time.sleep(0.1)
    assert spy.on(writer.path) == 0
    syncer.close()
    assert spy.on(writer.path) == 1
    writer.close()
    syncer.seal(writer).result(10)  # the thread is gone: synced by the caller
    assert spy.on(writer.path) == 2
    assert spy.calls[-1][1:] == (f"{writer.path}.idx", threading.current_thread().name)
    assert not {str(writer.path), f"{writer.path}.idx"} & open_files()


def open_files() -> set[str]:
    names = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            names.add(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:
            continue  # listdir's own descriptor, closed since
    return names


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("1s", 1.0), ("500ms", 0.5), ("2s", 2.0), ("0", 0.0), ("0s", 0.0), ("off", None)],
)
def test_recording_sync_in_the_config(tmp_path: Path, written: str, seconds: float | None) -> None:
    path = tmp_path / "auditor.yaml"
    path.write_text(f"proxy_service:\n  recording_sync: {written}\n")  # a bare `off` is YAML false
    assert load_config(path).recording_sync == seconds
    assert load_config(None).recording_sync == 1.0  # the default


@pytest.mark.parametrize("written", ["1m", "fast", "yes", "-1s", "[1s]"])
def test_a_bad_recording_sync_is_one_line_naming_the_key(tmp_path: Path, written: str) -> None:
    path = tmp_path / "auditor.yaml"
    path.write_text(f"proxy_service:\n  recording_sync: {written}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: proxy_service.recording_sync: ") and "\n" not in message
