"""Replay: rendering recorded output as the user saw it, and seeking in it.

- ``emulator``: the ``Terminal`` (pyte plus the alternate screen, scrollback
  capture, silent queries, xterm-like resizes).
- ``fastscreen``: the speed-ups over stock pyte, with identical output.
- ``snapshot``: a terminal's full state as compact bytes.
- ``keyframes``: snapshots at intervals, in a sidecar, for fast seeking.

Headless: nothing here imports Textual or the TUI.
"""
