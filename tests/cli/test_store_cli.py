"""sessions, failures, export, import, verify: the real command line, as a user runs it."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from auditor.index import FailureKind, SessionIndex
from auditor.recording import RecordingWriter, Stream, encode_resize
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
        "ID", "START", "DURATION", "STATUS", "USER", "TARGET", "BYTES", "COMMAND"
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
        index.index_text(sid)
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
