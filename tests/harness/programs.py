"""Real programs' output, recorded for the replay's fidelity checks.

Each entry is what a user ran in a terminal of a given size: coloured
``ls``, vi and less opening a file and quitting, top in batch mode and
interactively, a man page in a pager, and a shell echoing a line longer
than the terminal. Screens are taken both mid-program (what the user
looked at) and at the end.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests.harness.pty_program import Expect, Mark, Pause, Send, record


@dataclass(frozen=True)
class Output:
    data: bytes
    cols: int
    rows: int


def _files(workdir: Path) -> tuple[Path, Path, Path]:
    listing = workdir / "listing"
    (listing / "subdir").mkdir(parents=True, exist_ok=True)
    for name in ["notes.txt", "archive.tar.gz", "photo.jpg", "README"]:
        (listing / name).write_text(name + "\n")
    script = listing / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    link = listing / "link-to-notes"
    if not link.is_symlink():
        link.symlink_to("notes.txt")
    notes = workdir / "notes.txt"
    notes.write_text(
        "".join(f"line {i}: the quick brown fox jumps over the lazy dog\n" for i in range(60))
        + "== end of the notes ==\n"  # text only the last screen shows
    )
    # A page as man's grotty formats it for a pager: bold by overstriking,
    # underline with underscores.
    page = workdir / "page.txt"
    bold = "".join(f"{c}\b{c}" for c in "NAME")
    under = "".join(f"_\b{c}" for c in "file")
    page.write_text(
        f"LS(1)                User Commands                LS(1)\n\n{bold}\n"
        f"       ls - list directory contents of {under}\n\n"
        + "".join(f"       option {i}: does something useful\n" for i in range(40))
    )
    return listing, notes, page


def record_programs(workdir: Path) -> dict[str, Output]:
    """Record every program; ``workdir`` holds their files and ``HOME``."""
    listing, notes, page = _files(workdir)
    env = {"HOME": str(workdir), "LESSHISTFILE": "-", "LESS": ""}
    out: dict[str, Output] = {}

    ls = record(["ls", "-la", "--color=always", str(listing)], 50, 12, env=env)
    out["ls-color"] = Output(ls.output, 50, 12)

    vi = record(
        ["vi", "-i", "NONE", str(notes)],
        80,
        24,
        [
            Expect(b"notes.txt"),
            Mark("open"),
            Send(b"G"),
            Expect(b"end of the notes"),
            Mark("end"),
            Send(b":q\r"),
        ],
        env=env,
    )
    out["vi-open"] = Output(vi.marks["open"], 80, 24)
    out["vi-end"] = Output(vi.marks["end"], 80, 24)
    out["vi-quit"] = Output(vi.output, 80, 24)

    less = record(
        ["less", str(notes)],
        60,
        15,
        [
            Expect(b"notes.txt"),
            Mark("open"),
            Send(b" "),
            Expect(b"line 27"),
            Mark("page"),
            Send(b"q"),
        ],
        env=env,
    )
    out["less-open"] = Output(less.marks["open"], 60, 15)
    out["less-page"] = Output(less.marks["page"], 60, 15)
    out["less-quit"] = Output(less.output, 60, 15)

    man = record(
        ["less", str(page)], 70, 20, [Expect(b"option"), Mark("open"), Send(b"q")], env=env
    )
    out["man-page"] = Output(man.marks["open"], 70, 20)

    out["top-batch"] = Output(record(["top", "-b", "-n", "1"], 100, 30, env=env).output, 100, 30)
    top = record(
        ["top", "-d", "0.5"],
        90,
        25,
        [Expect(b"load average"), Pause(1.0), Mark("running"), Send(b"q")],
        env=env,
    )
    out["top-running"] = Output(top.marks["running"], 90, 25)
    out["top-quit"] = Output(top.output, 90, 25)

    shell = record(
        ["bash", "--norc", "--noprofile", "-i"],
        40,
        10,
        [
            Expect(b"$ "),
            Send(b"echo " + b"long-" * 20 + b"end\r"),
            Expect(b"-end\r\n"),
            Send(b"exit\r"),
        ],
        env={**env, "PS1": "$ ", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    out["shell-long-line"] = Output(shell.output, 40, 10)
    return out
