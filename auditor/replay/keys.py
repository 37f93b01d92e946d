"""Keys typed at the player, from the raw bytes a terminal sends.

The recorded output goes to the user's terminal as it is, so any query in
it (vim asks for the terminal's version and background colour) makes the
terminal answer on our input. Escape sequences are therefore parsed whole
and dropped unless they are a known key: a reply is never taken for a
``q``.
"""

from __future__ import annotations

from auditor.recording.escapes import KEY_SEQUENCE, KEY_UNFINISHED

# Key names the player understands.
PAUSE = "pause"
LEFT = "left"
RIGHT = "right"
FASTER = "faster"
SLOWER = "slower"
STEP = "step"
QUIT = "quit"

_ARROWS = {b"A": FASTER, b"B": SLOWER, b"C": RIGHT, b"D": LEFT}
_PLAIN = {
    b" ": PAUSE,
    b"+": FASTER,
    b"=": FASTER,
    b"-": SLOWER,
    b".": STEP,
    b"q": QUIT,
    b"Q": QUIT,
    b"\x03": QUIT,  # Ctrl-C, should the terminal deliver it as a byte
}


class KeyParser:
    """Turns chunks of terminal input into key names; keeps an unfinished sequence."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        buf = self._pending + data
        self._pending = b""
        keys: list[str] = []
        i = 0
        while i < len(buf):
            if buf[i] == 0x1B:
                m = KEY_SEQUENCE.match(buf, i)
                if m is None:
                    if KEY_UNFINISHED.match(buf, i):
                        # A lone ESC at the end of a read is the Escape key, not
                        # the start of a sequence: terminals send those whole.
                        if i + 1 < len(buf):
                            self._pending = buf[i:]
                        break
                    i += 1  # a lone ESC: ignored
                    continue
                seq = m.group()
                if len(seq) >= 3 and seq[1:2] in (b"[", b"O") and seq[-1:] in _ARROWS:
                    keys.append(_ARROWS[seq[-1:]])
                i = m.end()
                continue
            key = _PLAIN.get(buf[i : i + 1])
            if key is not None:
                keys.append(key)
            i += 1
        return keys
