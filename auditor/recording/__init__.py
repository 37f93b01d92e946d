"""Session recordings: byte-exact, crash-tolerant, tamper-evident (DESIGN §6).

Headless: never imports the TUI.
"""

from auditor.recording.format import (
    RecordingError,
    Stream,
    decode_exit,
    decode_resize,
    encode_exit,
    encode_resize,
)
from auditor.recording.reader import Cursor, Record, RecordingReader, Summary
from auditor.recording.writer import RecordingWriter

__all__ = [
    "Cursor",
    "Record",
    "RecordingError",
    "RecordingReader",
    "RecordingWriter",
    "Stream",
    "Summary",
    "decode_exit",
    "decode_resize",
    "encode_exit",
    "encode_resize",
]
