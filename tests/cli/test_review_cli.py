"""Issue 24 from the command line: moments (ID@T), reviews, who watched whom, holds.

The real ``auditor`` in a subprocess over a real data directory (the TUI tests'
world: a shell session with commands at known times, a live one).
"""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from auditor.audit_log import AuditLog
from auditor.config import load_config
from auditor.index import SessionIndex
from auditor.upkeep.retention import apply_once
from tests.cli.test_prune import recorded
from tests.harness.auditor_cli import AuditorCli
from tests.tui.world import build_world

DAY = 86400.0
ME = getpass.getuser()


def audit_lines(data_dir: Path, event: str) -> list[dict[str, Any]]:
    path = data_dir / "audit.log"
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [line for line in lines if line["event"] == event]


def views(data_dir: Path, sid: str) -> list[tuple[str, str]]:
    with SessionIndex.open(data_dir) as index:
        return [(v.viewer, v.what) for v in index.views([sid]).get(sid, [])]


def test_replay_at_a_moment_prints_the_screen_there(cli: AuditorCli) -> None:
    world = build_world(cli.data_dir)
    short = world.shell[:8]
    early = cli.run("replay", f"{short}@0:02", "--format", "text").stdout
    assert "bin  core  notes.txt" in early and "web1.example.com" not in early
    assert early.splitlines()[-1] == "joe@web1:~$"
    later = cli.run("replay", f"{world.shell[:6]}@4.5", "--format", "text").stdout
    assert "web1.example.com" in later and "secret-token-42" not in later

    # The whole transcript without a moment, as before.
    whole = cli.run("replay", short, "--format", "text").stdout
    assert "secret-token-42" in whole

    # Each replay is a view: a row in the index and a session_viewed line.
    assert views(cli.data_dir, world.shell)[-1] == (ME, "replay")
    lines = audit_lines(cli.data_dir, "session_viewed")
    assert {"viewer": ME, "session": world.shell, "what": "replay"}.items() <= lines[0].items()
    assert lines[0]["moment"] == f"{short}@0:02.0"


def test_bad_moments_are_one_line(cli: AuditorCli) -> None:
    world = build_world(cli.data_dir)
    short = world.shell[:8]
    for args, said in (
        (("replay", "3f2a@xyz"), "'3f2a@xyz': expected a time into the session like 1:23.4"),
        (("replay", f"{short}@"), "after the @"),
        (("replay", f"{short}@9:00", "--format", "text"), "the session is only 0:06.0 long"),
        (("replay", f"{short}@1", "--at", "2"), "give the time once"),
        (("replay", f"{short}@1", "--format", "asciicast"), "a moment is for --format play"),
        (("export", f"{short}@9:00", "--format", "text"), "the session is only 0:06.0 long"),
        (("review", f"{short}@zz"), "expected a time"),
        (("zz@1:00",), "unknown session ID 'zz': IDs are hexadecimal"),
        (("beef@1:00",), "unknown session ID 'beef'"),
        ((f"{short}@9:00",), "the session is only"),
    ):
        out = cli.run(*args, check=False)
        assert out.returncode != 0, args
        assert said in out.stderr, (args, out.stderr)
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "Traceback" not in out.stderr
    assert views(cli.data_dir, world.shell) == []  # none of them replayed anything


def test_export_of_a_moment_marks_it_in_asciicast(cli: AuditorCli, tmp_path: Path) -> None:
    world = build_world(cli.data_dir)
    short = world.shell[:8]
    cast = tmp_path / "s.cast"
    cli.run("export", f"{short}@0:03", "--format", "asciicast", "-o", str(cast))
    events = [json.loads(line) for line in cast.read_text().splitlines()[1:]]
    markers = [e for e in events if e[1] == "m"]
    assert [3.0, "m", f"{short}@0:03.0"] in markers
    times = [e[0] for e in events]
    assert times == sorted(times)

    text = cli.run("export", f"{short}@0:03", "--format", "text")
    assert "secret-token-42" in text.stdout  # the whole session
    assert "is marked only in asciicast" in text.stderr
    assert views(cli.data_dir, world.shell) == [(ME, "export"), (ME, "export")]
    assert [line["what"] for line in audit_lines(cli.data_dir, "session_viewed")] == [
        "export",
        "export",
    ]


def test_commands_and_search_hits_print_their_moment(cli: AuditorCli) -> None:
    world = build_world(cli.data_dir)
    short = world.shell[:8]
    table = cli.run("commands").stdout.splitlines()
    assert table[0].split() == ["TIME", "USER", "TARGET", "MOMENT", "COMMAND"]
    row = next(line for line in table if "ls --color" in line)
    moment = next(word for word in row.split() if word.startswith(short + "@"))
    assert moment == f"{short}@0:01.0"  # typed at 1.0s
    docs = json.loads(cli.run("commands", "--json").stdout)
    (ls,) = [d for d in docs if d["line"] == "ls --color"]
    assert ls["moment"] == moment
    # The moment a command prints replays from there: its prompt, before its output.
    shown = cli.run("replay", moment, "--format", "text").stdout
    assert shown == "joe@web1:~$\n"

    (doc,) = json.loads(cli.run("sessions", "--search", "hostname", "--json").stdout)
    assert doc["moment"].startswith(f"{short}@0:0")
    hits = cli.run("sessions", "--search", "hostname").stdout.splitlines()
    assert hits[0].split()[-2:] == ["AT", "MATCH"]
    assert doc["moment"] in hits[1]
    # The hit's moment shows the hit: its whole line on the screen.
    shown = cli.run("replay", doc["moment"], "--format", "text").stdout
    assert "joe@web1:~$ cat /etc/hostname\n" in shown


def test_reviews_filters_and_json(cli: AuditorCli) -> None:
    world = build_world(cli.data_dir)
    short = world.shell[:8]
    out = cli.run("review", f"{short}@0:03", "--note", "hostname looked up, fine").stdout
    assert out == f"reviewed {short}@0:03.0 as {ME}: hostname looked up, fine\n"
    cli.run("review", world.vim[:6])
    cli.run("review", short, "--note", "second look")

    def ids(*flags: str) -> set[str]:
        return {d["id"] for d in json.loads(cli.run("sessions", "--json", *flags).stdout)}

    assert ids("--unreviewed") == {world.failed, world.live}
    assert ids("--reviewed-by", ME) == {world.shell, world.vim}
    assert ids("--reviewed-by", "somebody-else") == set()
    assert ids("--search", "hostname", "--unreviewed") == set()
    assert ids("--search", "hostname", "--reviewed-by", ME) == {world.shell}

    docs = {d["id"]: d for d in json.loads(cli.run("sessions", "--json").stdout)}
    reviews = docs[world.shell]["reviews"]
    assert [(r["reviewer"], r["note"], r["t"]) for r in reviews] == [
        (ME, "hostname looked up, fine", 3.0),
        (ME, "second look", None),
    ]
    assert docs[world.failed]["reviews"] == [] and docs[world.failed]["hold"] is None
    assert [(v["viewer"], v["what"]) for v in docs[world.shell]["viewed_by"]] == [
        (ME, "review"),
        (ME, "review"),
    ]

    table = cli.run("sessions").stdout.splitlines()
    assert table[0].split()[-2:] == ["REVIEWED", "COMMAND"]
    shell_row = next(line for line in table if line.startswith(short))
    assert f"✓ {ME}" in shell_row
    failed_row = next(line for line in table if line.startswith(world.failed[:8]))
    assert failed_row.split()[-5:] == ["-", "make", "deploy", "(exit", "2)"]
    text = cli.run("sessions", "--unreviewed").stdout
    assert short not in text and world.failed[:8] in text

    reviewed = audit_lines(cli.data_dir, "session_reviewed")
    assert [(r["reviewer"], r["session"], r.get("note")) for r in reviewed] == [
        (ME, world.shell, "hostname looked up, fine"),
        (ME, world.vim, None),
        (ME, world.shell, "second look"),
    ]
    assert reviewed[0]["moment"] == f"{short}@0:03.0"
    assert len(audit_lines(cli.data_dir, "session_viewed")) == 3


def test_a_held_session_survives_prune_and_retention_until_released(
    cli: AuditorCli, tmp_path: Path
) -> None:
    now = time.time()
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        held = recorded(index, now - 100 * DAY, now - 100 * DAY + 60, b"evidence\r\n")
        other = recorded(index, now - 100 * DAY, now - 100 * DAY + 60, b"routine\r\n")
        swept = recorded(index, now - 100 * DAY, now - 100 * DAY + 60, b"routine too\r\n")
        rec = Path(index.get_session(held).recording_path or "")
    cli.config = tmp_path / "auditor.yaml"
    cli.config.write_text("retention: {sessions: 90d}\n")

    out = cli.run("hold", held[:8], "--reason", "incident 42").stdout
    assert out == f"held session {held[:8]} ({ME}: incident 42)\n"
    again = cli.run("hold", held[:8], "--reason", "twice", check=False)
    assert again.returncode == 1 and "already held by" in again.stderr
    assert cli.run("hold", held[:8], check=False).returncode == 2  # --reason is required
    assert [d["id"] for d in json.loads(cli.run("sessions", "--held", "--json").stdout)] == [held]
    (doc,) = json.loads(cli.run("sessions", "--held", "--json").stdout)
    assert doc["hold"]["by"] == ME and doc["hold"]["reason"] == "incident 42"

    assert "would remove 2 session(s)" in cli.run("prune", "--dry-run").stdout
    assert "removed 2 session(s)" in cli.run("prune").stdout
    # The proxy's daily pass (what its thread runs): the same rule.
    audit = AuditLog(tmp_path / "proxy-audit.log")
    try:
        report = apply_once(load_config(cli.config), cli.data_dir, audit)
    finally:
        audit.close()
    assert [s.id for s in report.sessions] == []  # prune already took the others
    with SessionIndex.open(cli.data_dir) as index:
        assert index.get_session(held).id == held
        assert {s.id for s in index.sessions(limit=None)} == {held}
    assert rec.exists()
    listed = cli.run("sessions", "--json").stdout
    assert other not in listed and swept not in listed

    out = cli.run("release", held[:8], "--reason", "case closed").stdout
    assert out.startswith(f"released session {held[:8]} (held by {ME}: incident 42)")
    assert cli.run("release", held[:8], check=False).stderr.strip().endswith("is not held")
    assert json.loads(cli.run("sessions", "--held", "--json").stdout) == []
    assert "would remove 1 session(s)" in cli.run("prune", "--dry-run").stdout
    audit = AuditLog(tmp_path / "proxy-audit.log")
    try:
        report = apply_once(load_config(cli.config), cli.data_dir, audit)
    finally:
        audit.close()
    assert [s.id for s in report.sessions] == [held]
    assert not rec.exists()

    (hold,) = audit_lines(cli.data_dir, "session_held")
    assert (hold["by"], hold["session"], hold["reason"]) == (ME, held, "incident 42")
    (release,) = audit_lines(cli.data_dir, "session_released")
    assert (release["by"], release["reason"], release["hold_reason"]) == (
        ME,
        "case closed",
        "incident 42",
    )


def test_tail_of_a_live_session_is_a_view(cli: AuditorCli) -> None:
    world = build_world(cli.data_dir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditor", "tail", world.live[:8]],
        env=cli.environ(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        # The view goes to the index, then to the audit log: wait for both.
        while not (views(cli.data_dir, world.live) and audit_lines(cli.data_dir, "session_viewed")):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    assert views(cli.data_dir, world.live) == [(ME, "tail")]
    (line,) = audit_lines(cli.data_dir, "session_viewed")
    assert (line["what"], line["session"], line["viewer"]) == ("tail", world.live, ME)


def test_migrate_takes_reviews_views_and_holds_along(
    cli: AuditorCli, tmp_path: Path, postgres_uri: str
) -> None:
    world = build_world(cli.data_dir, live=False)
    cli.run("review", f"{world.shell[:8]}@0:03", "--note", "fine")
    cli.run("review", world.vim[:8])
    cli.run("hold", world.failed[:8], "--reason", "case 7")
    cli.run("replay", world.shell[:8], "--format", "text")
    local = {d["id"]: d for d in json.loads(cli.run("sessions", "--json").stdout)}

    cli.run("migrate", "--to", postgres_uri)
    cli.run("migrate", "--to", postgres_uri)  # again: nothing twice
    config = tmp_path / "fleet.yaml"
    config.write_text(f"storage:\n  audit_events_uri: {postgres_uri}\n")
    shared = AuditorCli(tmp_path / "other-machine", config=config)
    there = {d["id"]: d for d in json.loads(shared.run("sessions", "--json").stdout)}
    for sid in (world.shell, world.vim, world.failed):
        for key in ("reviews", "hold", "viewed_by"):
            assert there[sid][key] == local[sid][key], (sid, key)
    assert len(there[world.shell]["reviews"]) == 1
    assert [d["id"] for d in json.loads(shared.run("sessions", "--held", "--json").stdout)] == [
        world.failed
    ]
