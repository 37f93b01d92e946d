"""What counts as a control on the auditor's terminal, and how it is shown."""

from __future__ import annotations

import logging

from auditor.textsafe import VisibleFormatter, visible, visible_parts


def test_controls_and_bidi_are_escapes_everything_else_is_kept() -> None:
    assert visible("x\x1b]2;owned\x07") == "x\\x1b]2;owned\\x07"
    assert visible("a\tb\nc\rd\x7fe\x00") == "a\tb\\x0ac\\x0dd\\x7fe\\x00"
    assert visible("\x85\x9b31m") == "\\x85\\x9b31m"  # C1: NEL, and CSI in UTF-8 terminals
    assert visible("\u202egnp.exe \u2066x\u2069 \u200f") == "\\u202egnp.exe \\u2066x\\u2069 \\u200f"
    assert visible("\udcff") == "\\udcff"  # an undecodable byte kept by surrogateescape
    kept = "[black on black] \\[\\e[1;32m\\] é 日本 🙂 ﷽ \u00a0"
    assert visible(kept) == kept
    assert list(visible_parts("a\x1b\x07b")) == [("a", False), ("\\x1b\\x07", True), ("b", False)]


def test_log_lines_keep_their_line_breaks_and_lose_their_controls() -> None:
    formatter = VisibleFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord(
        "auditor.proxy", logging.WARNING, __file__, 1, "refused (%s): %s", None, None
    )
    record.args = ("db\x1b]2;owned\x07", "no route\nsecond line")
    assert formatter.format(record) == (
        "WARNING refused (db\\x1b]2;owned\\x07): no route\nsecond line"
    )
