"""asciicast (asciinema's format): v1, v2 and v3 in; v2 and v3 out.

asciicast stores text, recordings store bytes: export decodes output with
one incremental UTF-8 decoder across records (a character split between two
reads comes out whole; invalid bytes become U+FFFD), import encodes back to
UTF-8. Input is left out of exports unless asked for, like
``asciinema rec`` without ``--stdin``: it holds what users typed, passwords
included.

The three versions differ in where the clock starts: v2 events carry the
time since the recording began, v1 frames and v3 events the time since the
one before. Import turns all of them into absolute times, as recordings
keep them, and into one header shape, so the importer never asks which
version it got. Export writes v2 by default because that is what the
``asciinema`` 2.x on PyPI plays; v3 is what asciinema 3 records and plays.
"""

from __future__ import annotations

import codecs
import functools
import json
import math
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from auditor.errors import AuditorError
from auditor.recording.format import (
    WITHHELD_TEXT,
    Stream,
    decode_exit,
    decode_resize,
    encode_exit,
    encode_resize,
)
from auditor.recording.reader import Record

DEFAULT_SIZE = (80, 24)
_CODES = {"o": Stream.OUTPUT, "i": Stream.INPUT, "r": Stream.RESIZE, "m": Stream.MARKER}
_V3_CODES = {**_CODES, "x": Stream.EXIT}
_JSON_WS = " \t\n\r"


class AsciicastError(AuditorError):
    pass


@dataclass
class Asciicast:
    """A parsed asciicast file of any version, in the shape a recording takes.

    ``header`` always has version, width, height, env (TERM included when the
    file names the terminal), command, title and timestamp (``None`` when
    the file has none); ``events`` carry absolute times.
    """

    header: dict[str, Any]
    events: list[tuple[float, Stream, bytes]] = field(default_factory=list)
    exit_status: int | None = None  # from a v3 "x" event

    @property
    def duration(self) -> float:
        return self.events[-1][0] if self.events else 0.0


def parse_asciicast(path: Path) -> Asciicast:
    """Read and check the whole file; a bad line raises naming the file and line."""
    try:
        fh = open(path, encoding="utf-8", newline="\n")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise AsciicastError(f"{path}: no such file") from None
    except OSError as exc:
        raise AsciicastError(f"{path}: cannot read: {exc.strerror}") from None
    with fh:
        try:
            text = fh.read()
        except UnicodeDecodeError as exc:
            raise AsciicastError(f"{path}: not UTF-8 text ({exc.reason})") from None
    return _parse_text(path, text)


def _parse_text(path: Path, text: str) -> Asciicast:
    if not text.strip():
        raise AsciicastError(f"{path}:1: empty file, expected an asciicast header")
    # Split on \n only: JSON text may hold a raw U+2028, which splitlines() breaks at.
    lines = text.split("\n")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as exc:
        header = _whole_document(path, text, exc.msg)
    version = header.get("version") if isinstance(header, dict) else None
    if not (_is_int(version) and version in (1, 2, 3)):
        raise AsciicastError(
            f'{path}:1: not an asciicast header (expected a JSON object with "version" 1, 2 or 3)'
        )
    if version == 1:
        return _parse_v1(path, text, _whole_document(path, text, "extra data"))
    return _parse_events(path, header, lines, version)


def _whole_document(path: Path, text: str, first_error: str) -> Any:
    """v1 is one JSON document, usually spread over many lines."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.lineno > 1:  # the first line was only the start of a document
            raise AsciicastError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
        raise AsciicastError(f"{path}:1: malformed header: {first_error}") from None


def _parse_v1(path: Path, text: str, doc: dict[str, Any]) -> Asciicast:
    located = functools.cache(lambda: _v1_lines(text))  # only an error needs a line number

    def key_line(key: str) -> int:
        return located()[0].get(key, 1)

    def frame_line(i: int) -> int:
        frames = located()[1]
        return frames[i] if i < len(frames) else key_line("stdout")

    size = _size(path, doc.get("width"), doc.get("height"), ("width", "height"), key_line)
    cast = Asciicast(_header(doc, 1, size))
    frames = doc.get("stdout")
    if not isinstance(frames, list):
        raise AsciicastError(
            f'{path}:{key_line("stdout")}: "stdout" must be a list of [delay, text] frames'
        )
    t = 0.0
    for i, frame in enumerate(frames):
        if not (isinstance(frame, list) and len(frame) == 2):
            raise AsciicastError(f"{path}:{frame_line(i)}: expected a frame [delay, text]")
        delay, data = frame
        if not (_is_number(delay) and delay >= 0):
            raise AsciicastError(
                f"{path}:{frame_line(i)}: frame delay must be a number >= 0, got {delay!r}"
            )
        t += delay
        if not isinstance(data, str):
            raise AsciicastError(f"{path}:{frame_line(i)}: frame text must be a string")
        cast.events.append((t, Stream.OUTPUT, data.encode("utf-8", "surrogatepass")))
    return cast


def _v1_lines(text: str) -> tuple[dict[str, int], list[int]]:
    """The line of each top-level key and of each "stdout" frame (text is valid JSON)."""
    decoder = json.JSONDecoder()
    counted = [0, 1]  # up to where newlines were counted, and the line there

    def line(pos: int) -> int:  # positions only grow: count each newline once
        counted[1] += text.count("\n", counted[0], pos)
        counted[0] = pos
        return counted[1]

    def skip(pos: int, sep: str = "") -> int:
        while text[pos] in _JSON_WS:
            pos += 1
        if sep and text[pos] == sep:
            return skip(pos + 1)
        return pos

    keys: dict[str, int] = {}
    frames: list[int] = []
    pos = skip(skip(0) + 1)  # past the opening brace
    while text[pos] != "}":
        key, end = decoder.raw_decode(text, pos)
        keys[key] = line(pos)
        pos = skip(skip(end) + 1)  # past the colon
        if key == "stdout" and text[pos] == "[":
            frames, pos = [], skip(pos + 1)
            while text[pos] != "]":
                frames.append(line(pos))
                pos = skip(decoder.raw_decode(text, pos)[1], ",")
            pos += 1
        else:
            pos = decoder.raw_decode(text, pos)[1]
        pos = skip(pos, ",")
    return keys, frames


def _parse_events(path: Path, raw: dict[str, Any], lines: list[str], version: int) -> Asciicast:
    if version == 2:
        size = _size(path, raw.get("width"), raw.get("height"), ("width", "height"))
        cast = Asciicast(_header(raw, 2, size))
        codes, when = _CODES, "time"
    else:
        term = raw.get("term")
        if not isinstance(term, dict):
            raise AsciicastError(f'{path}:1: header "term" must be an object with cols and rows')
        size = _size(path, term.get("cols"), term.get("rows"), ("term.cols", "term.rows"))
        cast = Asciicast(_header(raw, 3, size, term.get("type")))
        codes, when = _V3_CODES, "interval"
    clock = 0.0
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip() or (version == 3 and line.lstrip().startswith("#")):
            continue
        event = _json(path, lineno, line, "event")
        if not (isinstance(event, list) and len(event) == 3):
            raise AsciicastError(f"{path}:{lineno}: expected an event [{when}, code, data]")
        t, code, data = event
        seconds = _seconds(path, lineno, t, f"event {when}")
        clock = clock + seconds if version == 3 else max(clock, seconds)
        if not isinstance(code, str):
            raise AsciicastError(f"{path}:{lineno}: event code must be a string, got {code!r}")
        if code not in codes:
            if version == 3:
                continue  # v3 lets later asciinema versions add event kinds
            raise AsciicastError(f"{path}:{lineno}: unknown event code {code!r} (o, i, r or m)")
        if data is None and code == "m":
            data = ""
        if not isinstance(data, str):
            raise AsciicastError(f"{path}:{lineno}: event data must be a string")
        stream = codes[code]
        if stream is Stream.RESIZE:
            payload = _resize(path, lineno, data)
        elif stream is Stream.EXIT:
            cast.exit_status = _exit_status(path, lineno, data)
            payload = encode_exit(cast.exit_status)
        else:
            payload = data.encode("utf-8", "surrogatepass")
        cast.events.append((clock, stream, payload))
    return cast


def _header(
    raw: dict[str, Any], version: int, size: tuple[int, int], term: Any = None
) -> dict[str, Any]:
    env = raw.get("env")
    # asciinema writes null for variables that were unset.
    env = {k: v for k, v in env.items() if isinstance(v, str)} if isinstance(env, dict) else {}
    if isinstance(term, str) and term:
        env.setdefault("TERM", term)
    stamp: Any = raw.get("timestamp")
    return {
        "version": version,
        "width": size[0],
        "height": size[1],
        "env": env,
        "command": raw.get("command") if isinstance(raw.get("command"), str) else None,
        "title": raw.get("title") if isinstance(raw.get("title"), str) else None,
        "timestamp": stamp if _is_number(stamp) and stamp > 0 else None,
    }


def _json(path: Path, lineno: int, line: str, what: str) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise AsciicastError(f"{path}:{lineno}: malformed {what}: {exc.msg}") from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(path: Path, lineno: int, value: Any, what: str) -> float:
    if not _is_number(value) or value < 0:
        raise AsciicastError(f"{path}:{lineno}: {what} must be a number >= 0, got {value!r}")
    return float(value)


def _size(
    path: Path,
    cols: Any,
    rows: Any,
    names: tuple[str, str],
    line: Callable[[str], int] = lambda _: 1,
) -> tuple[int, int]:
    for value, name in zip((cols, rows), names, strict=True):
        if not _is_int(value) or not 0 <= value < 10_000:
            raise AsciicastError(f"{path}:{line(name)}: header {name!r} must be a positive integer")
    # `asciinema rec` without a terminal size (under script, in CI) writes 0x0.
    return int(cols) or DEFAULT_SIZE[0], int(rows) or DEFAULT_SIZE[1]


def _resize(path: Path, lineno: int, data: str) -> bytes:
    cols, sep, rows = data.partition("x")
    if not (sep and cols.isdigit() and rows.isdigit()) or not (
        0 < int(cols) < 65536 and 0 < int(rows) < 65536
    ):
        raise AsciicastError(f"{path}:{lineno}: resize data must look like 80x24, got {data!r}")
    return encode_resize(int(cols), int(rows))


def _exit_status(path: Path, lineno: int, data: str) -> int:
    try:
        return int(data.strip())
    except ValueError:
        raise AsciicastError(
            f"{path}:{lineno}: exit data must be the exit status, like 0, got {data!r}"
        ) from None


def asciicast_lines(
    records: Iterable[Record], meta: dict[str, Any], include_input: bool = False
) -> Iterator[str]:
    """The lines of an asciicast v2 file for a recording, header first."""
    size, records = _opening(iter(records), meta)
    header: dict[str, Any] = {"version": 2, "width": size[0], "height": size[1]}
    header.update(_header_extras(meta))
    header["env"] = {"TERM": _term(meta)}
    yield json.dumps(header, ensure_ascii=False)
    for t, code, data in _events(records, include_input):
        if code == "x":  # v2 has no exit event: a marker says it
            status, sig = decode_exit(data.encode())
            code, data = "m", f"exit signal {sig}" if sig else f"exit status {status}"
        yield json.dumps([round(t, 6), code, data], ensure_ascii=False)


def asciicast_v3_lines(
    records: Iterable[Record], meta: dict[str, Any], include_input: bool = False
) -> Iterator[str]:
    """The lines of an asciicast v3 file: each event's time counts from the one before."""
    size, records = _opening(iter(records), meta)
    header: dict[str, Any] = {
        "version": 3,
        "term": {"cols": size[0], "rows": size[1], "type": _term(meta)},
    }
    header.update(_header_extras(meta))
    header["env"] = {"TERM": _term(meta)}
    yield json.dumps(header, ensure_ascii=False)
    clock = 0.0  # the sum of the intervals written, as a reader will add them up
    for t, code, data in _events(records, include_input):
        if code == "x":
            status = _v3_exit(data)
            if status is None:
                continue
            data = str(status)
        interval = max(0.0, round(t - clock, 6))
        clock += interval
        yield json.dumps([interval, code, data], ensure_ascii=False)


def _v3_exit(data: str) -> int | None:
    """A signal becomes 128 + its number, as a shell reports it."""
    status, sig = decode_exit(data.encode())
    if sig is None:
        return status
    try:
        return 128 + signal.Signals[f"SIG{sig.removeprefix('SIG')}"].value
    except KeyError:
        return None


def _opening(
    records: Iterator[Record], meta: dict[str, Any]
) -> tuple[tuple[int, int], Iterator[Record]]:
    """The terminal size is the first resize, if it comes before any output."""
    pending: list[Record] = []
    size = (int(meta.get("cols") or DEFAULT_SIZE[0]), int(meta.get("rows") or DEFAULT_SIZE[1]))
    for rec in records:
        if rec.stream is Stream.RESIZE:
            size = decode_resize(rec.data)  # in the header, not an event
            break
        pending.append(rec)
        if rec.stream in (Stream.OUTPUT, Stream.STDERR):
            break
    return size, _chain(pending, records)


def _header_extras(meta: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if meta.get("start"):
        extras["timestamp"] = int(float(meta["start"]))
    who = "@".join(str(meta[k]) for k in ("login", "node") if meta.get(k))
    if who or meta.get("title"):
        extras["title"] = who or str(meta["title"])
    return extras


def _term(meta: dict[str, Any]) -> str:
    return str(meta.get("term") or "xterm-256color")


def _events(records: Iterable[Record], include_input: bool) -> Iterator[tuple[float, str, str]]:
    """(time, code, text) for every record asciicast can carry; exits as code "x"."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    t = 0.0
    for rec in records:
        t = rec.t
        if rec.stream in (Stream.OUTPUT, Stream.STDERR):
            text = decoder.decode(rec.data)
            if text:
                yield t, "o", text
        elif rec.stream is Stream.INPUT and include_input:
            yield t, "i", rec.data.decode("utf-8", "replace")
        elif rec.stream is Stream.RESIZE:
            cols, rows = decode_resize(rec.data)
            yield t, "r", f"{cols}x{rows}"
        elif rec.stream is Stream.MARKER:
            yield t, "m", rec.data.decode("utf-8", "replace")
        elif rec.stream is Stream.WITHHELD:  # with or without input: where it was withheld
            yield t, "m", WITHHELD_TEXT
        elif rec.stream is Stream.EXIT:
            yield t, "x", rec.data.decode("utf-8", "replace")
    tail = decoder.decode(b"", final=True)
    if tail:
        yield t, "o", tail


def _chain(first: list[Record], rest: Iterator[Record]) -> Iterator[Record]:
    yield from first
    yield from rest


def write_asciicast(
    out: TextIO,
    records: Iterable[Record],
    meta: dict[str, Any],
    include_input: bool = False,
    version: int = 2,
) -> None:
    lines = asciicast_v3_lines if version == 3 else asciicast_lines
    for line in lines(records, meta, include_input):
        out.write(line + "\n")
