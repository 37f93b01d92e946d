"""asciicast v2 out (checked by the real asciinema) and in (files asciinema wrote)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize
from auditor.recording.asciicast import AsciicastError, parse_asciicast, write_asciicast
from auditor.recording.text import transcript
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


H = '{"version": 2, "width": 80, "height": 24}'


@pytest.mark.parametrize(
    ("lines", "line_no", "message"),
    [
        (['{"version": 1, "width": 80, "height": 24}'], 1, "not an asciicast v2 header"),
        (["not json"], 1, "malformed header"),
        (['{"version": 2, "width": "80", "height": 24}'], 1, "'width' must be"),
        ([H, '[0.5, "o", "x"]', "[0.6, 'o', 'y']"], 3, "malformed event"),
        ([H, '[0.5, "o"]'], 2, "expected an event"),
        ([H, '[0.5, "o", "x"]', '[-1, "o", "x"]'], 3, "time must be a number"),
        ([H, '[0.5, "z", "x"]'], 2, "unknown event code 'z'"),
        ([H, '[0.5, "r", "80 by 24"]'], 2, "resize data must look like 80x24"),
        ([H, '[0.5, "o", 42]'], 2, "data must be a string"),
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


def test_text_transcript_strips_escapes(tmp_path: Path) -> None:
    rec = tmp_path / "s.rec"
    with RecordingWriter.create(rec, {}) as w:
        w.append(Stream.OUTPUT, b"\x1b]0;title\x07\x1b[1;31mred\x1b[0m\r\n", 0.1)
        w.append(Stream.OUTPUT, b"\x1b[?1049hfull screen\x1b[?1049l done\r\n", 0.2)
    assert "".join(transcript(RecordingReader(rec).records())) == "red\nfull screen done\n"
