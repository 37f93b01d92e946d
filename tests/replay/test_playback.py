"""The one replay core, on a clock the test moves: pace, idle cap, steps, follow, jumps."""

from __future__ import annotations

from pathlib import Path

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.replay.playback import (
    Find,
    Playback,
    SeekBy,
    SetSpeed,
    Step,
    StepBack,
    ToggleFollow,
    TogglePlay,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recording(path: Path, outputs: list[tuple[float, bytes]]) -> Path:
    with RecordingWriter.create(path, {"start": 0.0}) as writer:
        writer.append(Stream.RESIZE, encode_resize(40, 5), 0.0)
        for t, data in outputs:
            writer.append(Stream.OUTPUT, data, t)
    return path


def playback(path: Path, clock: Clock, **kwargs: object) -> Playback:
    return Playback(RecordingReader(path), clock=clock, wall=lambda: 5.0, **kwargs)  # type: ignore[arg-type]


def shown(items: list[tuple[float, str, object]]) -> list[object]:
    return [data for _t, _kind, data in items]


def test_plays_at_pace_with_speed_and_idle_cap(tmp_path: Path) -> None:
    path = recording(tmp_path / "s.rec", [(1.0, b"one\r\n"), (11.0, b"two\r\n"), (12.0, b"3\r\n")])
    clock = Clock()
    pb = playback(path, clock, max_idle=2.0)
    pb.handle(TogglePlay())
    clock.now += 0.5
    assert pb.tick() == [] and pb.position == 0.5
    assert pb.until_due() == 0.5
    clock.now += 0.5
    assert shown(pb.tick()) == [b"one\r\n"]
    # Ten seconds of silence play in two; the position still moves through them.
    clock.now += 1.0
    assert pb.tick() == [] and pb.position == 6.0
    clock.now += 1.0
    assert shown(pb.tick()) == [b"two\r\n"]
    pb.handle(SetSpeed(2.0))
    clock.now += 0.5
    assert shown(pb.tick()) == [b"3\r\n"]
    assert pb.finished and not pb.playing
    assert pb.terminal.text() == "one\ntwo\n3"
    pb.handle(TogglePlay())  # at the end: from the start again
    assert pb.playing and pb.position == 0.0 and pb.terminal.text() == ""


def test_pause_step_step_back_seek_and_find(tmp_path: Path) -> None:
    path = recording(tmp_path / "s.rec", [(i * 1.0, b"line-%d\r\n" % i) for i in range(1, 9)])
    clock = Clock()
    pb = playback(path, clock)
    assert shown(pb.handle(Step())) == [b"line-1\r\n"]
    assert shown(pb.handle(Step())) == [b"line-2\r\n"]
    assert pb.position == 2.0
    clock.now += 5  # paused: time passes, nothing moves
    assert pb.tick() == [] and pb.position == 2.0
    generation = pb.generation
    pb.handle(StepBack())
    assert pb.position == 1.0 and "line-2" not in pb.terminal.text()
    assert pb.generation == generation + 1  # a new terminal: draw it all
    pb.handle(SeekBy(5.0))
    assert pb.position == 6.0 and "line-6" in pb.terminal.text()
    pb.handle(SeekBy(-100.0))
    assert pb.position == 0.0
    pb.handle(Find(0.0, "line-7"))
    assert pb.terminal.text().splitlines()[-1] == "line-7" and not pb.playing


def test_a_burst_beyond_the_budget_is_jumped_not_emulated(tmp_path: Path) -> None:
    burst = [(1.0 + i / 1000, b"x" * 1000 + b"\r\n") for i in range(200)]
    path = recording(tmp_path / "s.rec", [*burst, (2.0, b"after\r\n")])
    clock = Clock()
    pb = playback(path, clock, budget=10_000)
    pb.handle(TogglePlay())
    generation = pb.generation
    clock.now += 3.0
    assert pb.tick() == []  # jumped: nothing to stream, the terminal is new
    assert pb.generation == generation + 1
    assert pb.terminal.text().splitlines()[-1] == "after"


def test_following_a_live_recording_until_it_is_sealed(tmp_path: Path) -> None:
    path = tmp_path / "live.rec"
    writer = RecordingWriter.create(path, {"start": 0.0})
    writer.append(Stream.RESIZE, encode_resize(40, 5), 0.0)
    writer.append(Stream.OUTPUT, b"first\r\n", 0.5)
    writer.flush()
    clock = Clock()
    pb = playback(path, clock, live=True)
    assert not pb.ended and pb.duration == 5.0  # the wall clock's recording time
    assert shown(pb.handle(ToggleFollow())) == [b"first\r\n"]
    assert pb.following and pb.position == 5.0
    writer.append(Stream.OUTPUT, b"second\r\n", 4.0)
    writer.flush()
    assert shown(pb.tick()) == [b"second\r\n"]
    writer.close()
    pb.tick()
    assert pb.ended and pb.finished and not pb.following
    assert pb.position == pb.duration == 4.0
