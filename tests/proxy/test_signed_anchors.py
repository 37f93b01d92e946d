"""Signed hash anchors (issue 19.3): a real session through the proxy is sealed
with its anchor signed by the audit key, in the index and beside the file;
``verify`` names an edited index anchor, a recording and anchor replaced
together, and checks copied files with the public key alone."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import asyncssh

from auditor.index import SessionIndex
from auditor.recording import RecordingWriter, Stream
from auditor.recording.anchor import seal_anchor
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import require
from tests.proxy.conftest import Setup


def ended_session(cli: AuditorCli, command: str) -> dict[str, object]:
    def find() -> list[dict[str, object]]:
        rows = json.loads(cli.run("sessions", "--json").stdout)
        return [r for r in rows if r["command"] == command and r["anchor_signature"]]

    [row] = eventually(find, timeout=20, what=f"the session of {command!r} ended and signed")
    return row


def db(cli: AuditorCli, sql: str, *params: object) -> None:
    with sqlite3.connect(cli.data_dir / "index.db") as conn:
        conn.execute(sql, params)


def forged_pair(path: Path, session_id: str, key: asyncssh.SSHKey | None) -> str:
    """A consistent recording (and, with ``key``, its anchor signed by that key)
    written over ``path``: what someone with the storage but not the audit key
    can make. Returns its final hash."""
    fake = path.with_name("forged.rec")
    with RecordingWriter.create(fake, {"session_id": session_id}) as writer:
        writer.append(Stream.OUTPUT, b"nothing to see here\r\n")
    if key is not None:
        seal_anchor(key, session_id, writer)
        shutil.move(fake.with_name("forged.rec.anchor"), path.with_name(path.name + ".anchor"))
    else:
        path.with_name(path.name + ".anchor").unlink()
    shutil.move(fake, path)
    shutil.move(fake.with_name("forged.rec.idx"), path.with_name(path.name + ".idx"))
    return writer.final_hash


def test_a_sealed_session_is_signed_and_verify_names_what_was_changed(
    setup: Setup, tmp_path: Path
) -> None:
    cli = setup.cli
    code, out, err = setup.ssh(setup.target(), "echo signed-anchor")
    assert code == 0 and out == b"signed-anchor\n", err
    row = ended_session(cli, "echo signed-anchor")
    sid, rec = str(row["id"]), Path(str(row["recording_path"]))
    audit_pub = cli.run("ca", "export", "--type=audit").stdout
    fingerprint = asyncssh.import_public_key(audit_pub).get_fingerprint()

    # In the index: the statement, its signature, the key; beside the file: the same.
    statement = str(row["anchor_statement"])
    assert statement.startswith(f"auditor-anchor-v1\nsession {sid}\nhash {row['recording_hash']}\n")
    assert row["anchor_key"] == fingerprint
    sidecar = rec.with_name(rec.name + ".anchor")
    doc = json.loads(sidecar.read_text())
    assert (doc["session_id"], doc["final_hash"]) == (sid, row["recording_hash"])
    assert (doc["statement"], doc["signature"]) == (statement, row["anchor_signature"])
    assert sidecar.stat().st_mode & 0o077 == 0

    # OpenSSH alone checks it: the SSHSIG format of `ssh-keygen -Y sign`.
    keygen = require("ssh-keygen")
    (tmp_path / "allowed").write_text(f"auditor {audit_pub}")
    (tmp_path / "statement.sig").write_text(doc["signature"])
    checked = subprocess.run(
        [
            *(keygen, "-Y", "verify", "-f", str(tmp_path / "allowed"), "-I", "auditor"),
            *("-n", "auditor-anchor", "-s", str(tmp_path / "statement.sig")),
        ],
        input=statement.encode(),
        capture_output=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert b'Good "auditor-anchor" signature' in checked.stdout

    ok = cli.run("verify", sid)
    assert ok.stdout.startswith(
        f"{sid[:8]}  ok: "
    ) and f"signed by the audit key ({fingerprint})" in (ok.stdout)

    # Exported: the .rec and its sidecar checked on a machine with no data
    # directory, index or CA, with nothing but the public key.
    away = tmp_path / "elsewhere"
    away.mkdir()
    shutil.copy(rec, away / "s.rec")
    shutil.copy(sidecar, away / "s.rec.anchor")
    (away / "audit.pub").write_text(audit_pub)
    outsider = AuditorCli(tmp_path / "no-data-dir")
    good = outsider.run("verify", "--key", str(away / "audit.pub"), str(away / "s.rec"))
    assert good.stdout.startswith(f"{away / 's.rec'}  ok: ") and "signed by the audit key" in (
        good.stdout
    )
    assert not outsider.data_dir.exists()
    other = asyncssh.generate_private_key("ssh-ed25519")
    (away / "other.pub").write_bytes(other.export_public_key())
    bad = outsider.run("verify", "--key", str(away / "other.pub"), str(away / "s.rec"), check=False)
    assert bad.returncode == 1 and "signed by an unknown key" in bad.stdout
    (away / "s.rec.anchor").unlink()
    missing = outsider.run(
        "verify", "--key", str(away / "audit.pub"), str(away / "s.rec"), check=False
    )
    assert missing.returncode == 1 and "s.rec.anchor is missing" in missing.stdout
    for args, message in (
        ([str(away / "nope.pub"), str(away / "s.rec")], "no such file"),
        ([str(away / "s.rec"), str(away / "s.rec")], "not an OpenSSH public key line"),
    ):
        res = outsider.run("verify", "--key", *args, check=False)
        assert res.returncode == 1 and message in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr

    # The anchor edited in the index (the database's administrator): named.
    original = str(row["recording_hash"])
    db(cli, "UPDATE sessions SET recording_hash = ? WHERE id = ?", "9:" + "0" * 32, sid)
    edited = cli.run("verify", sid, check=False)
    assert edited.returncode == 1
    assert "SIGNATURE FAILED: the anchor in the index was edited" in edited.stdout
    db(cli, "UPDATE sessions SET recording_hash = ? WHERE id = ?", original, sid)
    assert cli.run("verify", sid).returncode == 0

    # Recording and anchor replaced together by someone with another key.
    saved = tmp_path / "saved"
    saved.mkdir()
    for p in rec.parent.glob(rec.name + "*"):
        shutil.copy(p, saved / p.name)
    forged_hash = forged_pair(rec, sid, other)
    db(cli, "UPDATE sessions SET recording_hash = ? WHERE id = ?", forged_hash, sid)
    forged = cli.run("verify", sid, check=False)
    assert forged.returncode == 1
    assert "the sidecar's anchor: signed by an unknown key" in forged.stdout
    # ... and the index's anchor rewritten to match: still another key's.
    signed = json.loads(sidecar.read_text())
    db(
        cli,
        "UPDATE sessions SET anchor_statement = ?, anchor_signature = ?, anchor_key = ? "
        "WHERE id = ?",
        signed["statement"],
        signed["signature"],
        signed["key"],
        sid,
    )
    assert "signed by an unknown key" in cli.run("verify", sid, check=False).stdout

    # ... or replaced by an unsigned pair, the index's signature cleared: not "old".
    forged_hash = forged_pair(rec, sid, None)
    db(
        cli,
        "UPDATE sessions SET recording_hash = ?, anchor_statement = NULL, "
        "anchor_signature = NULL, anchor_key = NULL WHERE id = ?",
        forged_hash,
        sid,
    )
    unsigned = cli.run("verify", sid, check=False)
    assert unsigned.returncode == 1
    assert "unsigned, though it started after the audit key was made" in unsigned.stdout

    # The sidecar and the index disagreeing is named too.
    for p in saved.iterdir():
        shutil.copy(p, rec.parent / p.name)
    db(
        cli,
        "UPDATE sessions SET recording_hash = ?, anchor_statement = ?, anchor_signature = ?, "
        "anchor_key = ? WHERE id = ?",
        original,
        row["anchor_statement"],
        row["anchor_signature"],
        row["anchor_key"],
        sid,
    )
    assert cli.run("verify", sid).returncode == 0
    doc["statement"] = doc["statement"].replace(f"start {doc['start']:.6f}", "start 1.000000")
    doc["start"] = 1.0
    sidecar.write_text(json.dumps(doc))
    differ = cli.run("verify", sid, check=False)
    assert differ.returncode == 1
    assert "the sidecar's anchor: the signature does not match" in differ.stdout
    assert "the sidecar and the index disagree" in differ.stdout or "(+" in differ.stdout


def test_a_recording_from_before_the_audit_key_is_unsigned_not_failed(cli: AuditorCli) -> None:
    cli.data_dir.mkdir(parents=True)
    with SessionIndex.open(cli.data_dir) as index:
        sid = index.new_session_id()
        path = index.recording_path(sid)
        start = time.time() - 3600
        with RecordingWriter.create(path, {"session_id": sid, "start": start}) as w:
            index.start_session(session_id=sid, start=start, recording_path=str(path))
            w.append(Stream.OUTPUT, b"an old session\r\n", 0.5)
        index.end_session(sid, exit_status=0)
    cli.run("ca", "init")  # the audit key comes after the recording
    res = cli.run("verify")
    assert res.returncode == 0
    assert f"{sid[:8]}  ok: " in res.stdout and "unsigned (recorded before the audit key)" in (
        res.stdout
    )
    assert res.stdout.splitlines()[-2:] == [
        "1 of them unsigned, as each says",
        "1 recordings checked, 0 damaged",
    ]
