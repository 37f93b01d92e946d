"""asciicast out (v2 checked by the real asciinema, v3 by our own import) and in (v1, v2, v3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.recording.asciicast import AsciicastError, parse_asciicast, write_asciicast
from auditor.recording.format import decode_resize, encode_exit
from auditor.replay.transcript import recording_transcript
from tests.recording import asciinema_tool


def _export(rec: Path, out: Path) -> Path:
    reader = RecordingReader(rec)
    with open(out, "w", encoding="utf-8") as fh:
        write_asciicast(fh, reader.records(), reader.meta)
    return out


def test_asciinema_cat_prints_the_recorded_output(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    word = "héllo wörld ✓ 日本".encode()
    with RecordingWriter.create(rec, {"login": "root", "node": "db1"}) as w:
        w.append(Stream.RESIZE, encode_resize(120, 40), 0.0)
        w.append(Stream.OUTPUT, b"\x1b[32m$\x1b[0m ls\r\n", 0.1)
        w.append(Stream.INPUT, b"secret\r", 0.2)  # not exported by default
        # A multi-byte character split across two reads must come out whole.
        w.append(Stream.OUTPUT, word[:2], 0.3)
        w.append(Stream.OUTPUT, word[2:] + b"\r\n", 0.4)
        w.append(Stream.EXIT, b"0", 0.5)
    cast = _export(rec, tmp_path / "s.cast")
    header = json.loads(cast.read_text().splitlines()[0])
    assert (header["version"], header["width"], header["height"]) == (2, 120, 40)
    printed = asciinema_tool.cat(cast, tmp_path)
    assert printed == b"\x1b[32m$\x1b[0m ls\r\n" + word + b"\r\n"
    assert b"secret" not in cast.read_bytes()


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {}) as w:
        w.append(Stream.OUTPUT, b"ok \xff\xfe done\r\n", 0.1)
    printed = asciinema_tool.cat(_export(rec, tmp_path / "s.cast"), tmp_path)
    assert printed == "ok \ufffd\ufffd done\r\n".encode()


def test_parses_a_file_recorded_by_asciinema_rec(tmp_path: Path) -> None:
    cast = tmp_path / "made-by-asciinema.cast"
    asciinema_tool.rec(cast, "printf 'first line\\nsecond %s\\n' marmalade", tmp_path)
    parsed = parse_asciicast(cast)
    assert (parsed.header["width"], parsed.header["height"]) == (100, 30)
    output = b"".join(d for _, s, d in parsed.events if s is Stream.OUTPUT)
    assert b"first line\r\nsecond marmalade\r\n" in output


# The example files of asciinema's format pages, v1 spread over lines as asciinema 1.x wrote it.
V1 = """{
  "version": 1,
  "width": 90,
  "height": 30,
  "duration": 1.515658,
  "command": "/bin/zsh",
  "title": "",
  "env": {"TERM": "xterm-256color", "SHELL": "/bin/zsh"},
  "stdout": [
    [
      0.248848,
      "\\u001b[1;31mHello \\u001b[32mWorld!\\u001b[0m\\n"
    ],
    [1.001376, "I am \\rThis is on the next line."]
  ]
}
"""
V3_HEADER = {
    "version": 3,
    "term": {"cols": 80, "rows": 24, "type": "xterm-256color", "version": "VTE(7802)"},
    "timestamp": 1504467315,
    "idle_time_limit": 2.0,
    "title": "Demo",
    "env": {"SHELL": "/bin/zsh"},
    "tags": ["demo"],
}
V3 = (
    json.dumps(V3_HEADER)
    + r"""
# event stream follows the header
[0.248, "o", "\u001b[1;31mHello \u001b[32mWorld!\u001b[0m\n"]
[1.001, "i", "ls\r"]
[3.500, "m", "checkpoint"]

[0.143, "o", "Now... "]
# terminal window resized to 90 cols and 30 rows
[2.050, "r", "90x30"]
[0.500, "future-code", {"anything": true}]
[1.041, "o", "Bye!"]
[0.887, "x", "3"]
"""
)


def _cast(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "in.cast"
    path.write_text(text)
    return path


def test_v1_frames_are_delays_since_the_previous_frame(tmp_path: Path) -> None:
    cast = parse_asciicast(_cast(tmp_path, V1))
    header = cast.header
    assert (header["width"], header["height"], header["command"]) == (90, 30, "/bin/zsh")
    assert header["env"]["TERM"] == "xterm-256color"
    assert [(round(t, 6), s) for t, s, _ in cast.events] == [
        (0.248848, Stream.OUTPUT),
        (1.250224, Stream.OUTPUT),
    ]
    assert cast.events[1][2] == b"I am \rThis is on the next line."


def test_v3_intervals_comments_unknown_codes_and_exit(tmp_path: Path) -> None:
    cast = parse_asciicast(_cast(tmp_path, V3))
    header = cast.header
    assert (header["width"], header["height"], header["title"]) == (80, 24, "Demo")
    assert header["timestamp"] == 1504467315
    assert header["env"] == {"SHELL": "/bin/zsh", "TERM": "xterm-256color"}
    kinds = [(round(t, 6), s) for t, s, _ in cast.events]
    # Each time counts from the event before, the ignored future-code event included.
    assert kinds == [
        (0.248, Stream.OUTPUT),
        (1.249, Stream.INPUT),
        (4.749, Stream.MARKER),
        (4.892, Stream.OUTPUT),
        (6.942, Stream.RESIZE),
        (8.483, Stream.OUTPUT),
        (9.37, Stream.EXIT),
    ]
    data = [d for _, _, d in cast.events]
    assert data[1:3] == [b"ls\r", b"checkpoint"]
    assert decode_resize(data[4]) == (90, 30)
    assert (data[6], cast.exit_status) == (encode_exit(3), 3)


def test_v3_export_round_trips_through_import(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {"login": "root", "node": "db1", "start": 1700000000.5}) as w:
        w.append(Stream.RESIZE, encode_resize(120, 40), 0.0)
        w.append(Stream.OUTPUT, "$ wc -l ✓\r\n".encode(), 0.1234567)
        w.append(Stream.INPUT, b"q", 0.5)
        w.append(Stream.MARKER, b"sftp", 1.0)
        # Hundreds of small steps: rounded intervals must not drift.
        for i in range(500):
            w.append(Stream.OUTPUT, b".", 1.0 + i * 0.0123457)
        w.append(Stream.RESIZE, encode_resize(100, 30), 9.0)
        w.append(Stream.EXIT, encode_exit(7), 9.25)
    reader = RecordingReader(rec)
    out = tmp_path / "s.cast"
    with open(out, "w", encoding="utf-8") as fh:
        write_asciicast(fh, reader.records(), reader.meta, include_input=True, version=3)
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 3 and header["term"] == {
        "cols": 120, "rows": 40, "type": "xterm-256color"
    }  # fmt: skip
    assert (header["timestamp"], header["title"]) == (1700000000, "root@db1")
    assert json.loads(lines[1]) == [0.123457, "o", "$ wc -l ✓\r\n"]
    assert json.loads(lines[2])[:2] == [0.376543, "i"]  # since the event before
    assert json.loads(lines[-1]) == [0.25, "x", "7"]

    back = parse_asciicast(out)
    want = [(r.t, r.stream, r.data) for r in RecordingReader(rec).records()][1:]
    assert [(s, d) for _, s, d in back.events] == [(s, d) for _, s, d in want]
    assert max(abs(a[0] - b[0]) for a, b in zip(back.events, want, strict=True)) < 0.001
    assert (back.header["width"], back.header["height"], back.exit_status) == (120, 40, 7)


def test_v3_export_gives_a_signal_as_128_plus_its_number(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {}) as w:
        w.append(Stream.OUTPUT, b"bye\r\n", 0.1)
        w.append(Stream.EXIT, encode_exit(signal="TERM"), 0.2)
    reader = RecordingReader(rec)
    out = tmp_path / "s.cast"
    with open(out, "w", encoding="utf-8") as fh:
        write_asciicast(fh, reader.records(), reader.meta, version=3)
    assert json.loads(out.read_text().splitlines()[-1]) == [0.1, "x", "143"]


H = '{"version": 2, "width": 80, "height": 24}'
H3 = '{"version": 3, "term": {"cols": 80, "rows": 24}}'
V1_HEAD = '{"version": 1, "width": 80, "height": 24, "stdout": ['


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        (['{"version": 4, "width": 80, "height": 24}'], 1, "not an asciicast header"),
        (["not json"], 1, "malformed header"),
        (['{"version": 2, "width": "80", "height": 24}'], 1, "'width' must be"),
        ([H, '[0.5, "o", "x"]', "[0.6, 'o', 'y']"], 3, "malformed event"),
        ([H, '[0.5, "o"]'], 2, "expected an event [time, code, data]"),
        ([H, '[0.5, "o", "x"]', '[-1, "o", "x"]'], 3, "time must be a number"),
        ([H, '[0.5, "z", "x"]'], 2, "unknown event code 'z'"),
        ([H, '[0.5, "r", "80 by 24"]'], 2, "resize data must look like 80x24"),
        ([H, '[0.5, "o", 42]'], 2, "data must be a string"),
        ([H, '[0.5, ["o"], "x"]'], 2, "event code must be a string"),
        # v1: one JSON document over many lines; the line of the bad part is named.
        (['{"version": 1, "width": 80, "height": 24}'], 1, '"stdout" must be a list'),
        (
            ["{", ' "version": 1,', ' "width": 80, "height": 24,', ' "stdout": {}', "}"],
            4,
            '"stdout" must be a list',
        ),
        ([V1_HEAD, ' [0.5, "ok"],', ' [-0.1, "x"]', "]}"], 3, "frame delay must be a number"),
        ([V1_HEAD, ' [0.5, "ok"],', " [0.1]", "]}"], 3, "expected a frame [delay, text]"),
        ([V1_HEAD, " [", "  0.5,", "  null", " ]", "]}"], 2, "frame text must be a string"),
        (["{", ' "version": 1,', ' "stdout": []', ' "width": 80', "}"], 4, "malformed JSON"),
        (['{"version": 1, "width": -3, "height": 24, "stdout": []}'], 1, "'width' must be"),
        # v3
        (['{"version": 3, "term": {"rows": 24}}'], 1, "'term.cols' must be"),
        (['{"version": 3, "width": 80, "height": 24}'], 1, 'header "term" must be an object'),
        (
            [H3, "# a comment", '[0.5, "o", "x"]', '[-0.5, "o", "y"]'],
            4,
            "event interval must be a number >= 0",
        ),
        ([H3, '[0.5, "r", "wide"]'], 2, "resize data must look like 80x24"),
        ([H3, '[0.5, "x", "fine"]'], 2, "exit data must be the exit status"),
        ([H3, '[0.5, "o"]'], 2, "expected an event [interval, code, data]"),
        ([H3, '[0.5, "o", null]'], 2, "data must be a string"),
        ([H3, '[0.5, "o", "x"', '[0.5, "o", "y"]'], 2, "malformed event"),
    ],
)
def test_malformed_lines_name_the_file_and_line(
    tmp_path: Path, lines: list[str], line_no: int, message: str
) -> None:
    path = tmp_path / "bad.cast"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AsciicastError) as err:
        parse_asciicast(path)
    assert str(err.value).startswith(f"{path}:{line_no}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_text_transcript_is_what_the_screen_showed(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {}) as w:
        w.append(Stream.OUTPUT, b"\x1b]0;title\x07\x1b[1;31mred\x1b[0m\r\n", 0.1)
        w.append(Stream.OUTPUT, b"\x1b[?1049hfull screen\x1b[?1049l done\r\n", 0.2)
    # The full-screen program's screen (its text on the row the cursor was on),
    # then the shell's line continuing where the cursor was saved.
    lines = list(recording_transcript(RecordingReader(rec).records()))
    assert lines == ["red", "", "full screen", " done"]


@pytest.mark.parametrize("version", [2, 3])
def test_withheld_input_is_a_marker_event_asciinema_plays_past(
    tmp_path: Path, version: int
) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {}) as w:
        w.append(Stream.RESIZE, encode_resize(80, 24), 0.0)
        w.append(Stream.OUTPUT, b"Password: ", 0.1)
        w.append(Stream.WITHHELD, b"", 0.2)
        w.append(Stream.OUTPUT, b"\r\nok\r\n", 0.5)
    reader = RecordingReader(rec)
    out = tmp_path / "s.cast"
    with open(out, "w", encoding="utf-8") as fh:
        write_asciicast(fh, reader.records(), reader.meta, include_input=True, version=version)
    events = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [e[1:] for e in events] == [
        ["o", "Password: "],
        ["m", "[input withheld]"],
        ["o", "\r\nok\r\n"],
    ]
    if version == 2:  # asciinema itself reads the marker and plays on
        assert asciinema_tool.cat(out, tmp_path) == b"Password: \r\nok\r\n"
