"""asciicast v2 (asciinema's format) in and out.

asciicast stores text, recordings store bytes: export decodes output with
one incremental UTF-8 decoder across records (a character split between two
reads comes out whole; invalid bytes become U+FFFD), import encodes back to
UTF-8. Input is left out of exports unless asked for, like
``asciinema rec`` without ``--stdin``: it holds what users typed, passwords
included.
"""

from __future__ import annotations

import codecs
import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from auditor.errors import AuditorError
from auditor.recording.format import Stream, decode_exit, decode_resize, encode_resize
from auditor.recording.reader import Record

DEFAULT_SIZE = (80, 24)
_CODES = {"o": Stream.OUTPUT, "i": Stream.INPUT, "r": Stream.RESIZE, "m": Stream.MARKER}


class AsciicastError(AuditorError):
    pass


@dataclass
class Asciicast:
    """A parsed asciicast v2 file: its header and its events as recording records."""

    header: dict[str, Any]
    events: list[tuple[float, Stream, bytes]] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return self.events[-1][0] if self.events else 0.0


def parse_asciicast(path: Path) -> Asciicast:
    """Read and check every line; a bad one raises naming the file and line."""
    try:
        fh = open(path, encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise AsciicastError(f"{path}: no such file") from None
    except OSError as exc:
        raise AsciicastError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        try:
            return _parse_lines(path, fh)
        except UnicodeDecodeError as exc:
            raise AsciicastError(f"{path}: not UTF-8 text ({exc.reason})") from None


def _parse_lines(path: Path, lines: Iterable[str]) -> Asciicast:
    it = iter(enumerate(lines, 1))
    first = next(it, None)
    if first is None:
        raise AsciicastError(f"{path}:1: empty file, expected an asciicast v2 header")
    header = _json(path, 1, first[1], "header")
    if not isinstance(header, dict) or header.get("version") != 2:
        raise AsciicastError(
            f'{path}:1: not an asciicast v2 header (expected a JSON object with "version": 2)'
        )
    for key, default in zip(("width", "height"), DEFAULT_SIZE, strict=True):
        if not _is_int(header.get(key)) or not 0 <= header[key] < 10_000:
            raise AsciicastError(f"{path}:1: header {key!r} must be a positive integer")
        # `asciinema rec` without a terminal size (under script, in CI) writes 0x0.
        header[key] = header[key] or default
    cast = Asciicast(header)
    last = 0.0
    for lineno, line in it:
        if not line.strip():
            continue
        event = _json(path, lineno, line, "event")
        if not (isinstance(event, list) and len(event) == 3):
            raise AsciicastError(f"{path}:{lineno}: expected an event [time, code, data]")
        t, code, data = event
        if data is None and code == "m":
            data = ""
        if not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
            raise AsciicastError(f"{path}:{lineno}: event time must be a number >= 0, got {t!r}")
        if code not in _CODES:
            raise AsciicastError(f"{path}:{lineno}: unknown event code {code!r} (o, i, r or m)")
        if not isinstance(data, str):
            raise AsciicastError(f"{path}:{lineno}: event data must be a string")
        stream = _CODES[code]
        if stream is Stream.RESIZE:
            payload = _resize(path, lineno, data)
        else:
            payload = data.encode("utf-8", "surrogatepass")
        last = max(last, float(t))
        cast.events.append((last, stream, payload))
    return cast


def _json(path: Path, lineno: int, line: str, what: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise AsciicastError(f"{path}:{lineno}: malformed {what}: {exc.msg}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _resize(path: Path, lineno: int, data: str) -> bytes:
    cols, sep, rows = data.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit()) or not (
        0 < int(cols) < 65536 and 0 < int(rows) < 65536
    ):
        raise AsciicastError(f"{path}:{lineno}: resize data must look like 80x24, got {data!r}")
    return encode_resize(int(cols), int(rows))


def asciicast_lines(
    records: Iterable[Record], meta: dict[str, Any], include_input: bool = False
) -> Iterator[str]:
    """The lines of an asciicast v2 file for a recording, header first."""
    records = iter(records)
    pending: list[Record] = []
    size = (int(meta.get("cols") or DEFAULT_SIZE[0]), int(meta.get("rows") or DEFAULT_SIZE[1]))
    # The terminal size is the first resize, if it comes before any output.
    for rec in records:
        if rec.stream is Stream.RESIZE:
            size = decode_resize(rec.data)  # in the header, not an event
            break
        pending.append(rec)
        if rec.stream in (Stream.OUTPUT, Stream.STDERR):
            break
    header: dict[str, Any] = {"version": 2, "width": size[0], "height": size[1]}
    if meta.get("start"):
        header["timestamp"] = int(float(meta["start"]))
    who = "@".join(str(meta[k]) for k in ("login", "node") if meta.get(k))
    if who:
        header["title"] = who
    header["env"] = {"TERM": str(meta.get("term") or "xterm-256color")}
    yield json.dumps(header, ensure_ascii=False)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    t = 0.0
    for rec in _chain(pending, records):
        t = round(rec.t, 6)
        if rec.stream in (Stream.OUTPUT, Stream.STDERR):
            text = decoder.decode(rec.data)
            if text:
                yield json.dumps([t, "o", text], ensure_ascii=False)
        elif rec.stream is Stream.INPUT and include_input:
            yield json.dumps([t, "i", rec.data.decode("utf-8", "replace")], ensure_ascii=False)
        elif rec.stream is Stream.RESIZE:
            cols, rows = decode_resize(rec.data)
            yield json.dumps([t, "r", f"{cols}x{rows}"])
        elif rec.stream is Stream.MARKER:
            yield json.dumps([t, "m", rec.data.decode("utf-8", "replace")], ensure_ascii=False)
        elif rec.stream is Stream.EXIT:
            status, signal = decode_exit(rec.data)
            label = f"exit signal {signal}" if signal else f"exit status {status}"
            yield json.dumps([t, "m", label])
    tail = decoder.decode(b"", final=True)
    if tail:
        yield json.dumps([t, "o", tail], ensure_ascii=False)


def _chain(first: list[Record], rest: Iterator[Record]) -> Iterator[Record]:
    yield from first
    yield from rest


def write_asciicast(
    out: TextIO, records: Iterable[Record], meta: dict[str, Any], include_input: bool = False
) -> None:
    for line in asciicast_lines(records, meta, include_input):
        out.write(line + "\n")
