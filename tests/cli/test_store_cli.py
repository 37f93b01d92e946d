"""sessions, failures, export, import, verify: the real command line, as a user runs it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_resize
from auditor.tui.samples import bundled_samples, import_samples
from auditor.upkeep.text_extraction import extract_text
from tests.harness.auditor_cli import AuditorCli
from tests.recording import asciinema_tool


def _index_state(data_dir: Path) -> tuple[list[tuple[object, ...]], list[str]]:
    """Everything a failed command must leave untouched: rows and recording files."""
    with SessionIndex.open(data_dir) as index:
        rows = index.conn.execute("SELECT * FROM sessions ORDER BY id").fetchall()
        text = index.conn.execute("SELECT rowid, * FROM session_text ORDER BY rowid").fetchall()
    files = sorted(str(p) for p in (data_dir / "recordings").rglob("*") if p.is_file())
    return rows + text, files


def test_new_user_imports_searches_exports_and_plays(cli: AuditorCli, tmp_path: Path) -> None:
    cast = tmp_path / "demo.cast"
    asciinema_tool.rec(cast, "printf 'deploying \\033[1mkumquat\\033[0m release\\n'", tmp_path)

    out = cli.run("import", str(cast)).stdout
    assert out.startswith(f"imported {cast} as ")
    short = out.split(" as ")[1].split()[0]

    listed = cli.run("sessions", "--search", "kumquat").stdout
    assert short in listed and "deploying «kumquat» release" in listed
    assert cli.run("sessions", "--search", "pomegranate").stdout.strip() == "no sessions match"

    exported = tmp_path / "back.cast"
    cli.run("export", short, "--format", "asciicast", "-o", str(exported))
    assert exported.stat().st_mode & 0o077 == 0
    assert b"deploying \x1b[1mkumquat\x1b[0m release" in asciinema_tool.cat(exported, tmp_path)
    shown = asciinema_tool.play(exported, tmp_path)
    assert b"kumquat" in shown

    text = cli.run("export", short, "--format", "text").stdout
    assert text == "deploying kumquat release\n"
    assert cli.run("verify", short).stdout.startswith(f"{short}  ok: ")


def test_sessions_table_and_json(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        old = index.start_session(
            user="joe", login="root", node="db1", start=time.time() - 86400 * 3
        )
        index.end_session(old, exit_status=0)
        new = index.start_session(user="ann", login="ann", node="web1", command="uptime")
    table = cli.run("sessions").stdout.splitlines()
    assert table[0].split() == [
        "ID", "START", "DURATION", "STATUS", "USER", "TARGET", "IN", "OUT", "COMMAND"
    ]  # fmt: skip
    assert table[1].startswith(new[:8]) and "live" in table[1] and "ann@web1" in table[1]
    assert table[2].startswith(old[:8]) and "ended" in table[2] and "(exit 0)" in table[2]
    docs = json.loads(cli.run("sessions", "--json").stdout)
    assert [d["id"] for d in docs] == [new, old]
    assert docs[1]["exit_status"] == 0 and docs[0]["end"] is None
    assert [d["id"] for d in json.loads(cli.run("sessions", "--live", "--json").stdout)] == [new]
    assert [d["id"] for d in json.loads(cli.run("sessions", "--user", "joe", "--json").stdout)] == [
        old
    ]
    assert [
        d["id"] for d in json.loads(cli.run("sessions", "--node", "web1", "--json").stdout)
    ] == [new]
    assert [d["id"] for d in json.loads(cli.run("sessions", "--since", "2h", "--json").stdout)] == [
        new
    ]
    since = time.strftime("%Y-%m-%d", time.localtime(time.time() - 86400 * 4))
    assert len(json.loads(cli.run("sessions", "--since", since, "--json").stdout)) == 2


def test_failures_with_kinds_and_hints(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        index.record_failure(
            FailureKind.MAXSTARTUPS, "dropped by sshd", user="joe", node="db1", port=22, retries=3
        )
        index.record_failure(FailureKind.AGENT_NOT_FORWARDED, "no agent", user="ann")
    out = cli.run("failures").stdout
    assert "maxstartups" in out and "agent_not_forwarded" in out
    assert "MaxStartups 50:30:100" in out  # the remediation hint, once per kind
    docs = json.loads(cli.run("failures", "--kind", "maxstartups", "--json").stdout)
    assert [(d["kind"], d["retries"], d["node"]) for d in docs] == [("maxstartups", 3, "db1")]
    assert json.loads(cli.run("failures", "--since", "1h", "--json").stdout)[0]["user"] == "ann"
    bad = cli.run("failures", "--kind", "gremlins", check=False)
    assert bad.returncode == 2 and "unknown kind 'gremlins'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def _record(data_dir: Path, text: bytes) -> str:
    with SessionIndex.open(data_dir) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        with RecordingWriter.create(path, {"session_id": sid}) as w:
            index.start_session(session_id=sid, user="joe", node="db1", recording_path=str(path))
            w.append(Stream.RESIZE, encode_resize(90, 20), 0.0)
            w.append(Stream.OUTPUT, text, 0.5)
        index.end_session(sid, exit_status=0)
        extract_text(index, sid)
    return sid


def test_verify_reports_tampering_with_file_and_offset(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    good = _record(cli.data_dir, b"all fine\r\n")
    bad = _record(cli.data_dir, b"rm -rf /important\r\n")
    with SessionIndex.open(cli.data_dir) as index:
        path = Path(index.get_session(bad).recording_path or "")
    assert cli.run("verify").stdout.endswith("2 recordings checked, 0 damaged\n")
    raw = bytearray(path.read_bytes())
    at = raw.index(b"important")
    raw[at] = ord("I")
    path.write_bytes(raw)
    res = cli.run("verify", check=False)
    assert res.returncode == 1
    assert f"{bad[:8]}  TAMPERED: offset " in res.stdout and str(path) in res.stdout
    assert f"{good[:8]}  ok" in res.stdout
    assert cli.run("verify", good[:6]).returncode == 0
    one = cli.run("verify", bad, check=False)
    assert one.returncode == 1 and "was changed" in one.stdout
    # Reading it for export stops with one line naming the file and offset.
    exp = cli.run("export", bad, "--format", "text", check=False)
    assert exp.returncode == 1 and exp.stderr.startswith(f"auditor: {path}: offset ")
    assert len(exp.stderr.strip().splitlines()) == 1


def test_bad_ids_and_bad_files_are_one_line_errors_and_change_nothing(
    cli: AuditorCli, tmp_path: Path
) -> None:
    cli.data_dir.mkdir(parents=True)
    _record(cli.data_dir, b"first\r\n")
    _record(cli.data_dir, b"second\r\n")
    before = _index_state(cli.data_dir)

    res = cli.run("export", "ffffffff", "--format", "text", check=False)
    assert (res.returncode, res.stderr) == (1, "auditor: unknown session ID 'ffffffff'\n")
    res = cli.run("verify", "", check=False)
    assert res.returncode != 0 and len(res.stderr.splitlines()) == 1

    good = tmp_path / "good.cast"
    good.write_text('{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "fine\\r\\n"]\n')
    broken = tmp_path / "broken.cast"
    broken.write_text(
        '{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "partial"]\n[0.2, "o", "tru'
    )
    res = cli.run("import", str(broken), check=False)
    assert res.returncode == 1
    assert res.stderr.startswith(f"auditor: {broken}:3: malformed event")
    assert len(res.stderr.splitlines()) == 1
    assert _index_state(cli.data_dir) == before

    missing = cli.run("import", str(tmp_path / "nope.cast"), check=False)
    assert missing.returncode == 1 and "nope.cast: no such file" in missing.stderr
    assert _index_state(cli.data_dir) == before

    # Several files: the good one goes in, the broken one is named, the exit says so.
    res = cli.run("import", str(good), str(broken), check=False)
    assert res.returncode == 1 and f"imported {good} as " in res.stdout
    assert f"{broken}:3:" in res.stderr
    assert json.loads(cli.run("sessions", "--search", "fine", "--json").stdout)[0]["kind"] == (
        "imported"
    )


def test_ambiguous_prefix(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        index.start_session(session_id="ab" + "1" * 30)
        index.start_session(session_id="ab" + "2" * 30)
    res = cli.run("export", "ab", "--format", "text", check=False)
    assert res.returncode == 1 and res.stderr.startswith("auditor: ambiguous session ID 'ab'")


def test_read_commands_need_an_existing_data_dir(cli: AuditorCli) -> None:
    for args in (["sessions"], ["failures"], ["verify"], ["export", "ab", "--format", "text"]):
        res = cli.run(*args, check=False)
        assert res.returncode == 1 and "no data directory" in res.stderr, args
    assert not cli.data_dir.exists()


def test_truncated_recording_is_reported_not_a_traceback(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    sid = _record(cli.data_dir, b"some output\r\n")
    with SessionIndex.open(cli.data_dir) as index:
        path = Path(index.get_session(sid).recording_path or "")
    shutil.copy(path, path.with_suffix(".bak"))
    path.write_bytes(path.read_bytes()[:20])
    res = cli.run("export", sid, "--format", "asciicast", check=False)
    assert res.returncode == 1
    assert res.stderr == f"auditor: {path}: offset 20: truncated header\n"
    res = cli.run("verify", sid, check=False)
    assert res.returncode == 1 and "UNREADABLE" in res.stdout
    path.write_bytes(path.with_suffix(".bak").read_bytes()[:-10])  # the end record cut off
    res = cli.run("verify", sid, check=False)
    assert res.returncode == 1 and "the index recorded" in res.stdout


@pytest.mark.parametrize("fmt", ["asciicast", "text"])
def test_export_to_stdout(cli: AuditorCli, fmt: str) -> None:
    cli.data_dir.mkdir(parents=True)
    sid = _record(cli.data_dir, "naïve output\r\n".encode())
    out = cli.run("export", sid[:5], "--format", fmt).stdout
    if fmt == "text":
        assert out == "naïve output\n"
    else:
        lines = out.splitlines()
        assert json.loads(lines[0])["width"] == 90
        assert json.loads(lines[1]) == [0.5, "o", "naïve output\r\n"]


V1_FILE = """{
  "version": 1, "width": 70, "height": 20, "duration": 0.7,
  "command": "/bin/sh", "title": "", "env": {"TERM": "vt100", "SHELL": "/bin/sh"},
  "stdout": [[0.25, "plum one\\r\\n"], [0.5, "plum two\\r\\n"]]
}
"""
V2_FILE = """{"version": 2, "width": 100, "height": 30, "timestamp": 1700000000}
[0.1, "o", "fig one\\r\\n"]
[0.2, "i", "q"]
[0.3, "r", "120x40"]
[0.4, "m", "halfway"]
[0.5, "o", "fig two\\r\\n"]
"""
V3_FILE = """{"version": 3, "term": {"cols": 90, "rows": 25, "type": "screen"}, "tags": []}
# asciinema 3 writes intervals: each since the event before
[0.1, "o", "lime one\\r\\n"]
[0.2, "i", "q"]
[0.3, "r", "132x43"]
[0.1, "later-code", "ignored"]
[0.1, "m", "halfway"]

[0.2, "o", "lime two\\r\\n"]
[0.1, "x", "3"]
"""


def _import(cli: AuditorCli, path: Path) -> str:
    out = cli.run("import", str(path)).stdout
    assert out.startswith(f"imported {path} as ")
    return out.split(" as ")[1].split()[0]


def _v3_events(cli: AuditorCli, sid: str) -> tuple[dict[str, object], list[list[object]]]:
    lines = cli.run("export", sid, "--format", "asciicast-v3").stdout.splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


@pytest.mark.parametrize(
    ("text", "size", "output", "exit_status"),
    [
        (V1_FILE, [70, 20, "vt100"], "plum one\r\nplum two\r\n", None),
        (V2_FILE, [100, 30, "xterm-256color"], "fig one\r\nfig two\r\n", None),
        (V3_FILE, [90, 25, "screen"], "lime one\r\nlime two\r\n", 3),
    ],
    ids=["v1", "v2", "v3"],
)
def test_imports_each_asciicast_version(
    cli: AuditorCli, tmp_path: Path, text: str, size: list[object], output: str, exit_status: int
) -> None:
    path = tmp_path / "in.cast"
    path.write_text(text)
    sid = _import(cli, path)
    word = output.split()[0]
    [doc] = json.loads(cli.run("sessions", "--search", f"{word} two", "--json").stdout)
    assert doc["id"].startswith(sid) and doc["exit_status"] == exit_status

    header, events = _v3_events(cli, sid)
    term = header["term"]
    assert isinstance(term, dict) and [term["cols"], term["rows"], term["type"]] == size
    assert "".join(str(e[2]) for e in events if e[1] == "o") == output
    if text is not V1_FILE:
        codes = [e[1] for e in events]
        assert codes == ["o", "r", "m", "o"] + (["x"] if exit_status is not None else [])
        assert "i" not in codes  # typed input stays out unless asked for
        assert events[2][2] == "halfway"
    if text is V3_FILE:
        assert events[1][2] == "132x43" and events[-1] == [0.1, "x", "3"]
        clock = [round(sum(float(str(e[0])) for e in events[: i + 1]), 6) for i in range(5)]
        assert clock == [0.1, 0.6, 0.8, 1.0, 1.1]  # the ignored code's interval still counts
        assert "(exit 3)" in cli.run("sessions").stdout


def test_asciicast_v3_export_round_trips_through_import(cli: AuditorCli, tmp_path: Path) -> None:
    cli.data_dir.mkdir(parents=True)
    sid = _record(cli.data_dir, "naïve output\r\n".encode())
    exported = tmp_path / "out.cast"
    cli.run("export", sid, "--format", "asciicast-v3", "--input", "-o", str(exported))
    assert exported.stat().st_mode & 0o077 == 0
    again = _import(cli, exported)
    first, second = _v3_events(cli, sid), _v3_events(cli, again)
    assert (
        first[0]["term"] == second[0]["term"] == {"cols": 90, "rows": 20, "type": "xterm-256color"}
    )
    assert [e[1:] for e in first[1]] == [e[1:] for e in second[1]] == [["o", "naïve output\r\n"]]
    assert abs(float(str(first[1][0][0])) - float(str(second[1][0][0]))) < 0.001


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{"version": 1, "width": 80, "height": 24,\n "stdout": "hello"\n}\n', 2,
         '"stdout" must be a list'),
        ('{"version": 2, "width": 80, "height": 24}\n[0.1, "o", "ok"]\n[0.2, "r", "big"]\n', 3,
         "resize data must look like 80x24"),
        ('{"version": 3, "term": {"rows": 24}}\n[0.1, "o", "ok"]\n', 1, "'term.cols' must be"),
        ('{"version": 3, "term": {"cols": 80, "rows": 24}}\n# c\n[0.1, "o", "ok"]\n'
         '[-0.2, "o", "no"]\n', 4, "event interval must be a number >= 0"),
    ],
    ids=["v1-stdout", "v2-resize", "v3-term", "v3-interval"],
)  # fmt: skip
def test_malformed_files_of_each_version_change_nothing(
    cli: AuditorCli, tmp_path: Path, text: str, line: int, message: str
) -> None:
    cli.data_dir.mkdir(parents=True)
    _record(cli.data_dir, b"already here\r\n")
    before = _index_state(cli.data_dir)
    bad = tmp_path / "bad.cast"
    bad.write_text(text)
    res = cli.run("import", str(bad), check=False)
    assert res.returncode == 1
    assert res.stderr.startswith(f"auditor: {bad}:{line}: ") and message in res.stderr
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    assert _index_state(cli.data_dir) == before


def test_a_search_hit_in_vim_or_less_is_one_line_of_the_screen(cli: AuditorCli) -> None:
    """The bundled shell sample edits a file in vim and pages through less: the
    match shown is the screen's row, and its time is when that row was printed."""
    source = bundled_samples()
    assert source is not None
    cli.data_dir.mkdir(mode=0o700)
    with SessionIndex.open(cli.data_dir) as index:
        import_samples(index, source)
    _header, row = cli.run("sessions", "--search", "rollback").stdout.splitlines()
    assert row.endswith("  «rollback» plan: restore the previous release")
    assert len(row) < 200
    [doc] = json.loads(cli.run("sessions", "--search", "rollback", "--json").stdout)
    assert doc["match"] == "«rollback» plan: restore the previous release"
    assert doc["match_t"] == pytest.approx(2.228, abs=0.01)  # typed in vim, not 0:00
    [doc] = json.loads(cli.run("sessions", "--search", "kerberos5", "--json").stdout)
    assert doc["match"].startswith("kerberos        88/tcp          «kerberos5» krb5")
    assert doc["match_t"] == pytest.approx(4.198, abs=0.01)  # less scrolled it into view
