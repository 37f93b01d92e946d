"""Input the user's terminal did not show is withheld from the recording.

On a pty the node's terminal echoes what the user types, unless a program
turned echo off to read a secret (``read -s``, ``getpass``, sudo, passwd,
ssh's passphrase prompt). The proxy cannot see the node's terminal modes,
only the bytes: so each keystroke's *record* (never the keystroke itself,
which goes to the node at once) waits here until the output shows whether
it was echoed. Echoed keys are recorded at their own time, in their own
place among the output; keys that were not are replaced by one WITHHELD
record per run, stamped at the run's first key, holding nothing: not the
bytes, not how many, not when each was typed.

The rules, per pty channel (``auditor.proxy.recorder`` routes records here):

- A key with visible text (letters, digits, a pasted word: input without
  escape sequences and control characters) is echoed if that text appears,
  contiguous, in the visible output that came after the key, and the next
  key's text does not appear before it (echoes come in the order of keys).
  When the key's line has been ended by Enter, the line is judged whole:
  kept only if every key of it shows before the Enter's own newline
  (``getpass`` and sudo print a newline after a secret and then the
  command's output, which must not pass for an echo). If that newline does
  not come within ``WINDOW`` the Enter was not echoed either (``read -s``),
  and the line is withheld even if the next prompt happens to contain its
  keys.
- A key not found echoed within ``WINDOW`` of its arrival is withheld. So
  are keys of full-screen programs that do not echo them (vim's normal mode,
  less): they never appear as typed text.
- Keys without visible text (Enter, Backspace, arrows, Tab, Ctrl-C) are kept,
  unless they come inside a withheld run: the Enter after a password, or the
  backspaces in it, belong to it.
- A run ends at the next key found echoed: one marker per run, however long.

Holding a record holds everything behind it (time never goes backwards in
a recording), so nothing is held longer than ``WINDOW`` past its key.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice

from auditor.recording import Stream

WINDOW = 1.0  # seconds a keystroke's record waits for its echo
MAX_SEEN = 1 << 16  # visible output kept while keys wait; past it, a match fails (withheld)
MAX_HELD = 4 << 20  # output held behind waiting keys; past it they are decided now
# Keystroke packets waiting at once; past it they are decided now. Each waiting
# key costs every packet after it a look, so a client sending thousands of
# one-byte packets would otherwise hold the proxy's loop for seconds (quadratic).
MAX_KEYS = 256

Record = tuple[Stream, bytes, float]

# Escape sequences: CSI, OSC (ended by BEL or ST), DCS/SOS/PM/APC, charset
# designations and two-byte escapes (also an Alt-modified key on input).
_ESCAPE = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[PX^_][\s\S]*?\x1b\\"
    rb"|O.|[ -/]+[0-~]|[0-~])"
)
_INPUT_CONTROLS = re.compile(rb"[\x00-\x1f\x7f]+")
_OUTPUT_CONTROLS = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]+")  # keeps \n: Enter's echo
_LINE_ENDS = re.compile(rb"[\r\n\x03\x04]")  # Enter, Ctrl-C, Ctrl-D end a typed line
_ENTER = frozenset(b"\r\n")
_LONGEST_ESCAPE = 256  # an unfinished escape longer than this is garbage, not a tail


def visible_input(data: bytes) -> bytes:
    """What of typed ``data`` a terminal echoing it would draw as text."""
    return _INPUT_CONTROLS.sub(b"", _ESCAPE.sub(b"", data))


@dataclass
class _Key:
    """One keystroke chunk (a typed line is split at its Enter) awaiting its verdict."""

    data: bytes
    t: float
    at: int  # where the visible output stood when it came
    visible: bytes
    enter: bool  # ends its line with Enter (echoed as a newline)
    ends_line: bool  # Enter, Ctrl-C or Ctrl-D
    slot: int  # its place among the held records


class InputRedactor:
    """Holds a pty channel's records from its first undecided keystroke on.

    ``add`` takes every record in order and gives back those decided (in the
    same order, a withheld run as one ``Stream.WITHHELD`` record); ``settle``
    (from the proxy's timer) decides keys whose time is up; ``close`` decides
    everything left, withholding what was not seen echoed.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._held: list[Record | None] = []  # None: a key withheld, or a key (see _keys)
        self._held_bytes = 0
        # Undecided keys, oldest first: a deque, as a pasted packet of many lines
        # is thousands of keys taken from the front one by one.
        self._keys: deque[_Key] = deque()
        self._seen = bytearray()  # visible output since the oldest undecided key
        self._base = 0  # the position of _seen[0] in all visible output
        self._carry = b""  # an unfinished escape sequence at the end of the output
        self._pos = 0  # where the next key's echo may start (after the last match)
        self._withholding = False  # inside a withheld run: its marker is written
        self._line_tainted = False  # a key of the line being typed was withheld
        self.withheld_runs = 0

    def add(self, stream: Stream, data: bytes, t: float) -> list[Record]:
        if stream is Stream.INPUT:
            self._typed(data, t)
            return self._decide(None if len(self._keys) > MAX_KEYS else t)
        if not self._keys:
            return [(stream, data, t)]  # nothing waits: straight through
        self._held.append((stream, data, t))
        self._held_bytes += len(data)
        if stream in (Stream.OUTPUT, Stream.STDERR):
            self._saw(data)
        # Keys typed into a flood of output are decided before it fills memory.
        return self._decide(None if self._held_bytes > MAX_HELD else t)

    def settle(self) -> list[Record]:
        return self._decide(self.clock()) if self._keys else []

    def close(self) -> list[Record]:
        """The channel ends: keys not seen echoed by now are withheld."""
        return self._decide(None)

    # Keystrokes in
    def _typed(self, data: bytes, t: float) -> None:
        at = self._base + len(self._seen)
        if not self._keys:  # output seen while nothing waited is of no use
            self._seen.clear()
            self._base = at
            self._carry = b""
        start = 0
        for m in _LINE_ENDS.finditer(data):
            self._key(data[start : m.end()], t, at, data[m.start()] in _ENTER, True)
            start = m.end()
        if start < len(data):
            self._key(data[start:], t, at, False, False)

    def _key(self, data: bytes, t: float, at: int, enter: bool, ends_line: bool) -> None:
        visible = visible_input(data)
        self._keys.append(_Key(data, t, at, visible, enter, ends_line, len(self._held)))
        self._held.append((Stream.INPUT, data, t))

    # Output seen
    def _saw(self, data: bytes) -> None:
        buf = self._carry + data if self._carry else data
        cut = len(buf)
        esc = buf.rfind(b"\x1b", max(0, cut - _LONGEST_ESCAPE))
        if esc >= 0 and _ESCAPE.match(buf, esc) is None:
            cut = esc
        self._carry = buf[cut:]
        if len(self._seen) < MAX_SEEN:
            text = _OUTPUT_CONTROLS.sub(b"", _ESCAPE.sub(b"", buf[:cut]))
            self._seen += text[: MAX_SEEN - len(self._seen)]

    def _find(self, needle: bytes, start: int, end: int | None = None) -> int:
        """Absolute position of ``needle`` in the visible output, or -1."""
        stop = len(self._seen) if end is None else end - self._base
        i = self._seen.find(needle, max(0, start - self._base), max(0, stop))
        return -1 if i < 0 else self._base + i

    # Verdicts
    def _decide(self, now: float | None) -> list[Record]:
        """Decide keys from the oldest on while they can be; release what is decided."""
        while self._keys:
            enter = self._line_end()
            if self._keys[0].visible and enter is not None and self._keys[enter].enter:
                # A whole line typed and ended by Enter: kept or withheld together.
                verdict = self._line_verdict(enter, now)
                if verdict is None:
                    break
                for _ in range(enter + 1):
                    self._apply(self._keys.popleft(), verdict)
                self._line_tainted = False
                continue
            key = self._keys[0]
            verdict = self._verdict(key, now)
            if verdict is None:
                break
            self._apply(self._keys.popleft(), verdict)
            if key.ends_line:
                self._line_tainted = False
        return self._release()

    def _apply(self, key: _Key, keep: bool) -> None:
        if keep:
            if key.visible:
                self._withholding = False  # an echoed key ends a withheld run
        elif self._withholding:
            self._held[key.slot] = None
        else:
            self._withholding = True
            self.withheld_runs += 1
            self._held[key.slot] = (Stream.WITHHELD, b"", key.t)
        if not keep:
            self._line_tainted = True

    def _line_end(self) -> int | None:
        """Index of the first waiting key that ends a line (Enter, Ctrl-C, Ctrl-D)."""
        return next((i for i, k in enumerate(self._keys) if k.ends_line), None)

    def _line_verdict(self, enter: int, now: float | None) -> bool | None:
        """A line ended by Enter is echoed only if its Enter is (a newline comes)
        and every key of it shows before that newline, in order. All or nothing:
        a key of a password must not be kept because the output after it (a
        prompt, a two-line prompt, a command's output) happens to hold it."""
        end = self._keys[enter]
        barrier = self._find(b"\n", max(self._pos, end.at))
        if barrier < 0:
            if now is not None and now < end.t + WINDOW:
                return None  # the Enter's echo may still come
            return False  # it did not: the terminal was not echoing (read -s)
        if self._line_tainted:
            return False  # a key of this line was withheld already
        pos = self._pos
        line = [k for k in islice(self._keys, enter + 1) if k.visible]
        for i, key in enumerate(line):
            found = self._find(key.visible, max(pos, key.at), barrier)
            if found < 0:
                return False
            if i + 1 < len(line):
                later = line[i + 1]
                there = self._find(later.visible, max(pos, later.at), barrier)
                if 0 <= there < found:
                    return False  # echoes come in order: that was the next key's
            pos = found + len(key.visible)
        self._pos = barrier + 1
        return True

    def _verdict(self, key: _Key, now: float | None) -> bool | None:
        """For a key whose line has no Enter yet (or a key without text): True
        keep its record, False withhold it, None not known yet."""
        if not key.visible:
            if key.enter and not self._withholding:
                newline = self._find(b"\n", max(self._pos, key.at))
                if newline >= 0:
                    self._pos = newline + 1
            return not self._withholding
        found = self._find(key.visible, max(self._pos, key.at))
        if found >= 0 and self._echoed_before(key, found):
            return False  # a later key's echo came first: this "echo" is that key's text
        if found >= 0:
            self._pos = found + len(key.visible)
            self._line_tainted = False  # the terminal echoes again: a new context
            return True
        if now is not None and now < key.t + WINDOW:
            return None
        return False

    def _echoed_before(self, key: _Key, found: int) -> bool:
        """Whether the next key with text shows up before ``found``: a terminal
        echoes in the order keys come, so a key a program did not draw is not
        taken as echoed by the same letter typed a moment after it (an
        undrawn ``x`` before ``Hello from linux``)."""
        for later in islice(self._keys, 1, None):
            if later.visible:
                there = self._find(later.visible, max(self._pos, later.at))
                return 0 <= there < found
            if later.ends_line:
                return False
        return False

    def _release(self) -> list[Record]:
        """The held records before the oldest undecided key, in order."""
        upto = self._keys[0].slot if self._keys else len(self._held)
        if not upto:
            return []
        out = [r for r in self._held[:upto] if r is not None]
        del self._held[:upto]
        self._held_bytes -= sum(len(r[1]) for r in out if r[0] is not Stream.INPUT)
        for k in self._keys:
            k.slot -= upto
        return out
