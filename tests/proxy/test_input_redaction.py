"""Passwords typed at a no-echo prompt never reach the recording or anything made
from it (``session_recording_input: redacted``, the default): real programs at
real prompts (bash's ``read -s``, Python's ``getpass``, ``stty -echo``) in an
``ssh -t`` session through the proxy, and the bytes looked for on disk, in
PostgreSQL and in the bucket, not only in what the CLI prints."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from auditor.index import SessionIndex
from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient
from tests.harness.s3 import S3Server
from tests.harness.tmux import Tmux
from tests.proxy.conftest import Setup, StartProxy, login_and_route
from tests.proxy.test_one_hop import route_one_hop
from tests.replay.sessions import (
    at_prompt,
    auditor_in_tmux,
    end_session,
    need,
    run,
    ssh_session,
)

SECRET = "hunter2-XYZZY-7"
# What of it must not be anywhere: the whole, a distinctive part, and both as
# PostgreSQL prints bytea (hex).
NEEDLES = [SECRET.encode(), b"XYZZY", SECRET.encode().hex().encode(), b"XYZZY".hex().encode()]
WITHHELD = "[input withheld]"


def type_slowly(tmux: Tmux, text: str) -> None:
    """One key at a time, as a person types: each is its own SSH packet."""
    for ch in text:
        tmux.type(ch)
        time.sleep(0.04)


def prompted(prompt: str) -> Callable[[str], bool]:
    """The prompt is up (the screen ends with it), not just in the command line."""
    return lambda screen: screen.rstrip().endswith(prompt)


def secret_session(setup: Setup, while_live: Callable[[], None] = lambda: None) -> None:
    """Echoed commands around four no-echo prompts, each given the secret;
    ``while_live`` looks before the session ends."""
    # A key whose passphrase is the secret, made beside the data directory (the
    # node is this machine), for OpenSSH's own passphrase prompt.
    key = setup.cli.data_dir.parent / "passphrase-key"
    key.unlink(missing_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", SECRET, "-f", str(key)], check=True)
    with ssh_session(setup) as tmux:
        run(tmux, "echo before-the-secret", "before-the-secret")
        # bash's read -s, typed key by key
        tmux.type("read -s -p 'pw: ' x; echo; echo read-got-${#x}\n")
        tmux.wait_for(prompted("pw:"))
        type_slowly(tmux, SECRET + "\n")
        tmux.wait_for(lambda s: "read-got-15" in s and at_prompt(s))
        # Python's getpass, typed (pasted) in one go
        tmux.type(
            'python3 -c \'import getpass; print("gp-got", len(getpass.getpass("Secret: ")))\'\n'
        )
        tmux.wait_for(prompted("Secret:"))
        time.sleep(0.2)
        tmux.type(SECRET + "\n")
        tmux.wait_for(lambda s: "gp-got 15" in s and at_prompt(s))
        # a prompt of its own with the pty's echo off
        tmux.type("printf 'token: '; stty -echo; read y; stty echo; echo; echo stty-got-${#y}\n")
        tmux.wait_for(prompted("token:"))
        time.sleep(0.2)
        type_slowly(tmux, SECRET + "\n")
        tmux.wait_for(lambda s: "stty-got-15" in s and at_prompt(s))
        # OpenSSH's passphrase prompt (readpassphrase on /dev/tty)
        tmux.type(f"ssh-keygen -y -f {key} >/dev/null && echo keygen-got-it\n")
        tmux.wait_for(prompted("Enter passphrase:"))
        type_slowly(tmux, SECRET + "\n")
        tmux.wait_for(lambda s: "keygen-got-it" in s and at_prompt(s))
        run(tmux, "echo after-the-secret", "after-the-secret")
        while_live()
        end_session(tmux)


def ended(cli: AuditorCli) -> list[dict[str, object]]:
    rows = json.loads(cli.run("sessions", "--json").stdout)
    return [r for r in rows if r["status"] == "ended"]


def audit_events(cli: AuditorCli) -> list[dict[str, object]]:
    lines = (cli.data_dir / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def commands_of(cli: AuditorCli, sid: str) -> list[tuple[str, str]]:
    """The session's commands as the index extracted them (after it ended)."""

    def look() -> list[tuple[str, str]] | None:
        rows = json.loads(cli.run("commands", "--json", "--limit", "1000").stdout)
        found = [(c["line"], c["context"]) for c in rows if c["session_id"] == sid]
        return found if ("echo after-the-secret", "$") in found else None

    return sorted(eventually(look, timeout=30, what="the session's commands"))


def files_holding(directory: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n!r}" for n in needles if n in data]
    return found


def recorded_streams(path: str) -> tuple[list[bytes], int]:
    """The recording's input records and how many WITHHELD markers it holds."""
    from auditor.recording import RecordingReader, Stream

    records = list(RecordingReader(path).records())
    typed = [r.data for r in records if r.stream is Stream.INPUT]
    return typed, sum(1 for r in records if r.stream is Stream.WITHHELD)


def test_a_password_typed_at_no_echo_prompts_leaves_no_trace(setup: Setup) -> None:
    secret_session(setup)
    [row] = eventually(lambda: ended(setup.cli) or None, timeout=20, what="the session's end")
    sid = str(row["id"])
    # Each withheld run is one marker; the commands typed around them are kept.
    typed, markers = recorded_streams(str(row["recording_path"]))
    assert markers == 4
    kept = b"".join(typed)
    assert b"echo before-the-secret" in kept and b"echo after-the-secret" in kept
    assert b"read -s -p" in kept
    # The session's byte count (index row, audit log) is of what was kept: the
    # difference would be the secrets' length.
    assert row["bytes_in"] == len(kept)
    [end] = [e for e in audit_events(setup.cli) if e["event"] == "session_end"]
    assert end["bytes_in"] == len(kept)
    # Everything derived from it, as the CLI prints it...
    text = setup.cli.run("replay", sid[:8], "--format", "text").stdout
    assert "before-the-secret" in text and "after-the-secret" in text
    assert text.count(WITHHELD) == 4 and SECRET not in text
    assert "Enter passphrase: " + WITHHELD in text
    player = auditor_in_tmux(setup.cli, "replay", sid[:8], "--speed", "4", "--max-idle", "0.2")
    try:  # played on a terminal: drawn where the cursor stood, in reverse video
        player.wait_for("Enter passphrase: " + WITHHELD, timeout=60)
    finally:
        player.kill()
    exported = setup.cli.run("export", sid[:8], "--format", "text").stdout
    assert exported.count(WITHHELD) == 4 and "XYZZY" not in exported
    assert "pw: " + WITHHELD in text and "Secret: " + WITHHELD in text
    cast = setup.cli.run("export", sid[:8], "--format", "asciicast", "--input").stdout
    events = [json.loads(line) for line in cast.splitlines()[1:]]
    assert [e[2] for e in events if e[1] == "m" and e[2] == WITHHELD] == [WITHHELD] * 4
    assert any(e[1] == "i" and "after-the-secret" in e[2] for e in events)
    assert "XYZZY" not in cast
    lines = commands_of(setup.cli, sid)
    assert ("echo before-the-secret", "$") in lines
    for prompt in ("pw:", "Secret:", "token:", "Enter passphrase:"):
        assert (WITHHELD, prompt) in lines
    assert not [c for c in lines if "XYZZY" in c[0]]
    found = json.loads(setup.cli.run("commands", "--search", "withheld", "--json").stdout)
    assert len(found) == 4
    assert "ok:" in setup.cli.run("verify", sid[:8]).stdout
    # Search finds where input was withheld, with the prompt's line.
    hits = eventually(
        lambda: json.loads(setup.cli.run("sessions", "--search", "withheld", "--json").stdout),
        timeout=20,
        what="the session found by its marker",
    )
    assert [h["id"] for h in hits] == [sid]
    # ...and every byte on disk: the recording, its sidecars and keyframes, the index.
    setup.cli.run("sessions", "--search", "before-the-secret")
    assert files_holding(setup.cli.data_dir, NEEDLES) == []


def test_session_recording_input_all_keeps_the_password(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    """Proves the look above would see a leak: with ``all`` the secret is there."""
    node = start_node()
    proxy = start_proxy(
        nodes={NODE: node.port}, config="auth_service:\n  session_recording_input: all\n"
    )
    login_and_route(ca, agent, proxy, ssh_client)
    setup = Setup(ca, agent, ssh_client, node, proxy)
    secret_session(setup)
    [row] = eventually(lambda: ended(ca) or None, timeout=20, what="the session's end")
    typed, markers = recorded_streams(str(row["recording_path"]))
    assert markers == 0
    assert SECRET.encode() in b"".join(typed)
    assert files_holding(ca.data_dir, NEEDLES[:1])


def test_exec_stdin_is_kept_when_redacted(setup: Setup) -> None:
    """Under ``redacted`` a script fed to a command without a pty is what ran: kept."""
    script = b"echo from-the-script\n"
    code, out, err = setup.ssh(setup.target(), "bash -s", input=script)
    assert code == 0 and out == b"from-the-script\n", err
    [row] = eventually(lambda: ended(setup.cli) or None, timeout=20, what="the session's end")
    typed, markers = recorded_streams(str(row["recording_path"]))
    assert b"".join(typed) == script and markers == 0


def test_none_records_no_input(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
) -> None:
    node = start_node()
    proxy = start_proxy(
        nodes={NODE: node.port}, config="auth_service:\n  session_recording_input: none\n"
    )
    login_and_route(ca, agent, proxy, ssh_client)
    setup = Setup(ca, agent, ssh_client, node, proxy)
    with ssh_session(setup) as tmux:
        run(tmux, "echo typed-but-not-kept", "typed-but-not-kept")
        end_session(tmux)
    code, out, _ = setup.ssh(setup.target(), "bash -s", input=b"echo script-not-kept\n")
    assert code == 0 and out == b"script-not-kept\n"
    rows = eventually(lambda: (r := ended(ca)) and len(r) == 2 and r, timeout=20, what="2 ends")
    for row in rows:
        typed, markers = recorded_streams(str(row["recording_path"]))
        assert typed == [] and markers == 0
    # The output is recorded as ever.
    sid = next(str(r["id"]) for r in rows if r["command"] != "bash -s")
    assert "typed-but-not-kept" in ca.run("replay", sid[:8], "--format", "text").stdout


def postgres_rows_holding(uri: str, needles: list[bytes]) -> list[str]:
    found = []
    with psycopg.connect(uri) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
            )
        ]
        for table in tables:
            for (row,) in conn.execute(f'SELECT t::text FROM "{table}" t'):
                found += [f"{table}: {n!r}" for n in needles if n.decode() in row]
    return found


def test_no_trace_in_postgresql_or_the_bucket(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    postgres_uri: str,
    s3: S3Server,
) -> None:
    s3.create_bucket("recordings")
    node = start_node()
    config = (
        f"storage:\n  audit_events_uri: {postgres_uri}\n"
        f"  audit_sessions_uri: {s3.uri('recordings')}\n"
    )
    proxy = start_proxy(nodes={NODE: node.port}, config=config)
    login_and_route(ca, agent, proxy, ssh_client)
    setup = Setup(ca, agent, ssh_client, node, proxy)

    def live_copies_hold_no_secret() -> None:
        # Followers on other machines read live sessions from live_chunks: one
        # follows this session, the flushes after the secret are there, and the
        # secret is not.
        rows = json.loads(
            AuditorCli(ca.data_dir, config=proxy.config_path).run("sessions", "--json").stdout
        )
        [live] = [r for r in rows if r["status"] == "live"]
        index = SessionIndex.open(ca.data_dir, uri=postgres_uri)
        try:
            index.watch_live(str(live["id"]), "a follower elsewhere")
        finally:
            index.close()
        with psycopg.connect(postgres_uri) as conn:
            eventually(
                lambda: (
                    b"after-the-secret"
                    in b"".join(bytes(r[0]) for r in conn.execute("SELECT data FROM live_chunks"))
                ),
                timeout=20,
                what="the live copy of the output after the secret",
            )
        assert postgres_rows_holding(postgres_uri, NEEDLES) == []

    secret_session(setup, live_copies_hold_no_secret)
    cli = AuditorCli(ca.data_dir, config=proxy.config_path)
    [row] = eventually(
        lambda: [r for r in ended(cli) if str(r["recording_path"]).startswith("s3://")] or None,
        timeout=30,
        what="the sealed recording in the bucket",
    )
    sid = str(row["id"])
    assert [c[0] for c in commands_of(cli, sid)].count(WITHHELD) == 4
    assert "after-the-secret" in cli.run("replay", sid[:8], "--format", "text").stdout
    client = s3.client()
    keys = s3.keys("recordings")
    assert f"prod/{sid[:2]}/{sid}.rec" in keys
    for key in keys:
        body = client.get_object(Bucket="recordings", Key=key)["Body"].read()
        assert not [n for n in NEEDLES if n in body], key
    assert postgres_rows_holding(postgres_uri, NEEDLES) == []
    assert files_holding(ca.data_dir, NEEDLES) == []
    assert files_holding(proxy.config_path.parent, NEEDLES) == []


def test_keys_vim_does_not_draw_are_withheld_those_it_draws_are_kept(
    setup: Setup, tmp_path: Path
) -> None:
    need("vi", "vim-tiny")
    target = tmp_path / "notes.txt"
    with ssh_session(setup) as tmux:
        run(tmux, "echo before-vim", "before-vim")
        tmux.type(f"vi {target}\n")
        tmux.wait_for(lambda s: s.count("\n~") >= 5)
        type_slowly(tmux, "iHello from vim")  # key by key, as typed
        tmux.wait_for("Hello from vim")
        tmux.send("Escape")
        time.sleep(0.3)
        tmux.type(":wq\n")
        tmux.wait_for(lambda s: "~" not in s and s.rstrip().endswith("$"))
        run(tmux, "echo after-vim", "after-vim")
        end_session(tmux)
    assert target.read_text() == "Hello from vim\n"
    [row] = eventually(lambda: ended(setup.cli) or None, timeout=20, what="the session's end")
    typed, markers = recorded_streams(str(row["recording_path"]))
    kept = b"".join(typed)
    assert b"echo before-vim" in kept and b"echo after-vim" in kept
    # vim draws the letters typed in insert mode (and the i in its showcmd
    # corner), but a space at the end of a line is a blank it need not draw.
    assert b"Hello" in kept and b"from" in kept and b"vim" in kept
    assert b"Hello from vim" not in kept and markers >= 1


def test_the_one_hop_path_withholds_the_same(setup: Setup) -> None:
    route_one_hop(setup.proxy, setup.client, agent=False)
    with ssh_session(setup) as tmux:
        tmux.type("read -s -p 'pw: ' x; echo; echo read-got-${#x}\n")
        tmux.wait_for(prompted("pw:"))
        type_slowly(tmux, SECRET + "\n")
        tmux.wait_for(lambda s: "read-got-15" in s and at_prompt(s))
        end_session(tmux)
    [row] = eventually(lambda: ended(setup.cli) or None, timeout=20, what="the session's end")
    typed, markers = recorded_streams(str(row["recording_path"]))
    assert markers == 1 and b"read -s -p" in b"".join(typed)
    assert files_holding(setup.cli.data_dir, NEEDLES) == []
