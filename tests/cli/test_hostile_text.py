"""Listings for a terminal print what the audited side wrote with its controls as escapes.

A login, node name, exec request or failure detail holding ESC, BEL or a
right-to-left override would otherwise act on the auditor's terminal
(retitle it, hide text, reorder a line). JSON output keeps the exact strings.
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.replay.tail import LiveTail
from auditor.textsafe import visible
from tests.harness.auditor_cli import AuditorCli
from tests.proxy.conftest import Setup, setup, start_proxy  # noqa: F401
from tests.tui.hostile import (
    DETAIL,
    EXEC,
    LIVE_USER,
    LOGIN,
    MESSAGE,
    NODE,
    PRINTED,
    PS1,
    TYPED,
    USER,
    build_hostile,
)

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
RETITLE = "x\x1b]2;owned\x07"  # the login: would retitle the auditor's terminal


def printed(cli: AuditorCli, *args: str) -> str:
    out = cli.run(*args).stdout
    assert not UNSAFE.search(out), f"auditor {' '.join(args)} printed a raw control: {out!r}"
    return out


def test_sessions_failures_and_commands_print_controls_as_escapes(cli: AuditorCli) -> None:
    h = build_hostile(cli.data_dir)
    target = f"{visible(LOGIN)}@{NODE}"

    listed = printed(cli, "sessions")
    rows = [line.split() for line in listed.splitlines()]
    assert [r[5:7] for r in rows[1:]] == [[LIVE_USER, target], [USER, target], [USER, target]]
    assert "printf '\\x1b]2;owned\\x07' # \\u202egnp.exe (exit 0)" in listed
    hit = printed(cli, "sessions", "--search", "kumquat")
    assert "$ [red]«kumquat»[/red] \\[done\\]" in hit

    failures = printed(cli, "failures")
    assert f"{USER}  {NODE}:22" in failures and visible(MESSAGE) in failures

    commands = printed(cli, "commands")
    for line in (TYPED, PS1, visible(EXEC)):
        assert f"{USER}  {target}" in commands and line in commands

    # JSON is for programs: the exact strings, controls escaped by JSON itself.
    for args in (("sessions", "--json"), ("failures", "--json"), ("commands", "--json")):
        out = cli.run(*args).stdout
        assert not UNSAFE.search(out) and "\\u001b" in out
    docs = {d["id"]: d for d in json.loads(cli.run("sessions", "--json").stdout)}
    assert docs[h.exec]["command"] == EXEC and docs[h.exec]["login"] == LOGIN
    assert docs[h.live]["user"] == LIVE_USER
    (failure,) = json.loads(cli.run("failures", "--json").stdout)
    assert failure["message"] == MESSAGE and failure["detail"] == DETAIL
    lines = {c["line"] for c in json.loads(cli.run("commands", "--json").stdout)}
    assert lines == {TYPED, PS1, EXEC}
    assert PRINTED in cli.run("export", h.shell, "--format", "text").stdout


def test_verify_and_a_login_that_would_retitle_the_terminal(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        sid = index.start_session(user="eve", login=RETITLE, node="db\u202e1", command=EXEC)
        index.end_session(sid, exit_status=0)
    listed = printed(cli, "sessions")
    assert "x\\x1b]2;owned\\x07@db\\u202e1" in listed
    printed(cli, "verify")


def test_error_lines_print_controls_as_escapes(cli: AuditorCli, tmp_path: Path) -> None:
    h = build_hostile(cli.data_dir, live=False)
    missing = tmp_path / "no\x1b]2;owned\x07where" / "out.txt"
    out = cli.run("export", h.shell, "--format", "text", "-o", str(missing), check=False)
    assert out.returncode == 1 and not UNSAFE.search(out.stderr)
    assert "no\\x1b]2;owned\\x07where/out.txt: cannot write" in out.stderr
    bad = tmp_path / "x\x1b[8mhidden\u202e.cast"
    bad.write_text("not a cast\n")
    out = cli.run("import", str(bad), check=False)
    assert out.returncode == 1 and not UNSAFE.search(out.stderr)
    assert "x\\x1b[8mhidden\\u202e.cast" in out.stderr


def live_session(index: SessionIndex) -> tuple[str, RecordingWriter]:
    sid = index.new_session_id()
    path = index.recording_path(sid)
    writer = RecordingWriter.create(path, {"session_id": sid})
    index.start_session(sid, user=LIVE_USER, login=RETITLE, node=NODE, recording_path=str(path))
    return sid, writer


def test_tail_live_headers_print_controls_as_escapes(tmp_path: Path) -> None:
    for raw in (False, True):
        data_dir = tmp_path / f"raw-{raw}"
        data_dir.mkdir()
        index = SessionIndex.open(data_dir)
        out = io.BytesIO()
        try:
            sid, writer = live_session(index)
            tail = LiveTail(index, out, raw=raw)
            writer.append(Stream.OUTPUT, b"hello\r\n", 0.1)
            writer.flush()
            tail.step()
            writer.close()
        finally:
            index.close()
        header = out.getvalue().decode().split("\n")[0]
        label = f"==> {sid[:8]} {LIVE_USER} x\\x1b]2;owned\\x07@{NODE} <=="
        if raw:  # on a terminal: bold, by our own escapes around the label
            assert header == f"\x1b[0m\x1b[1m{label}\x1b[0m\r"
        else:
            assert header == label


def test_an_exec_request_through_the_proxy_is_listed_with_escapes(setup: Setup) -> None:  # noqa: F811
    command = "echo through-the-proxy # \x1b]2;owned\x07 \u202egnp.exe \x1b[8m"
    code, out, err = setup.ssh(setup.target(), command)
    assert code == 0, err.decode()
    assert out == b"through-the-proxy\n"
    deadline = time.monotonic() + 15
    while True:
        docs = json.loads(setup.cli.run("sessions", "--json").stdout)
        if any(d["status"] == "ended" for d in docs) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [d["command"] for d in docs] == [command]  # exact, in JSON
    listed = printed(setup.cli, "sessions")
    assert "# \\x1b]2;owned\\x07 \\u202egnp.exe \\x1b[8m (exit 0)" in listed
    for _ in range(100):
        commands = printed(setup.cli, "commands")
        if "through-the-proxy" in commands:
            break
        time.sleep(0.1)
    assert "echo through-the-proxy # \\x1b]2;owned\\x07 \\u202egnp.exe \\x1b[8m" in commands
