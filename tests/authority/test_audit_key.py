"""The audit signing key beside the CAs: made, exported, carried, never replaced."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import asyncssh

from tests.harness.auditor_cli import AuditorCli


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_init_creates_the_audit_key_and_export_prints_its_public_line(cli: AuditorCli) -> None:
    first = cli.run("ca", "init").stdout
    assert "audit signing key created: SHA256:" in first
    key_file = cli.data_dir / "ca" / "audit_key"
    assert mode(key_file) == 0o600 and mode(cli.data_dir / "ca") == 0o700
    key = asyncssh.read_private_key(key_file)
    assert key.algorithm == b"ssh-ed25519"
    again = cli.run("ca", "init").stdout
    assert f"audit signing key already exists: {key.get_fingerprint()}" in again

    line = cli.run("ca", "export", "--type=audit").stdout
    assert line.endswith(" auditor-audit@example.com\n") and line.count("\n") == 1
    algorithm, blob, _comment = line.split()
    assert algorithm == "ssh-ed25519"
    public = asyncssh.import_public_key(line)
    assert public.public_data == key.public_data and blob in key.export_public_key().decode()


def test_a_data_dir_from_before_audit_keys_gets_one_at_ca_init(cli: AuditorCli) -> None:
    cli.run("ca", "init")
    (cli.data_dir / "ca" / "audit_key").unlink()
    (cli.data_dir / "ca" / "audit_key.pub").unlink()
    missing = cli.run("ca", "export", "--type=audit", check=False)
    assert missing.returncode == 1 and "run `auditor ca init`" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    out = cli.run("ca", "init").stdout
    assert "user CA already exists" in out and "audit signing key created" in out


def test_the_private_bundle_carries_the_audit_key_to_another_proxy(
    ca: AuditorCli, tmp_path: Path
) -> None:
    bundle = tmp_path / "cas.json"
    ca.run("ca", "export", "--private", "--out", str(bundle))
    assert "audit" in json.loads(bundle.read_text())
    second = AuditorCli(tmp_path / "proxy-b")
    imported = second.run("ca", "import", str(bundle)).stdout
    assert "audit signing key imported: SHA256:" in imported
    line = "--type=audit"
    assert second.run("ca", "export", line).stdout == ca.run("ca", "export", line).stdout
    assert mode(second.data_dir / "ca" / "audit_key") == 0o600
    assert "audit signing key already here" in second.run("ca", "import", str(bundle)).stdout

    # A proxy that made its own audit key is not given another one.
    other = AuditorCli(tmp_path / "other")
    other.run("ca", "init")
    before = other.run("ca", "export", line).stdout
    for ca_type in ("user", "host"):  # the same CAs, only the audit key differs
        (other.data_dir / "ca" / f"{ca_type}_ca").unlink()
    out = other.run("ca", "import", str(bundle), check=False)
    assert out.returncode == 1 and "already has another audit key" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert other.run("ca", "export", line).stdout == before
    assert not (other.data_dir / "ca" / "user_ca").exists()  # nothing half imported


def test_a_bundle_from_before_audit_keys_imports_and_says_what_it_did(
    ca: AuditorCli, tmp_path: Path
) -> None:
    bundle = tmp_path / "old.json"
    ca.run("ca", "export", "--private", "--out", str(bundle))
    doc = json.loads(bundle.read_text())
    del doc["audit"]
    old = tmp_path / "old-format.json"
    old.write_text(json.dumps(doc))
    os.chmod(old, 0o600)
    fresh = AuditorCli(tmp_path / "fresh")
    out = fresh.run("ca", "import", str(old)).stdout
    assert "user CA imported" in out and "host CA imported" in out
    assert "audit signing key created here: SHA256:" in out
    assert "the bundle has no audit key" in out
    assert (fresh.data_dir / "ca" / "audit_key").exists()
    kept = fresh.run("ca", "import", str(old)).stdout
    assert "audit signing key kept" in kept


def test_a_bad_audit_key_in_a_bundle_is_one_line(ca: AuditorCli, tmp_path: Path) -> None:
    bundle = tmp_path / "cas.json"
    ca.run("ca", "export", "--private", "--out", str(bundle))
    doc = json.loads(bundle.read_text())
    doc["audit"] = "not a key"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    os.chmod(bad, 0o600)
    fresh = AuditorCli(tmp_path / "fresh")
    out = fresh.run("ca", "import", str(bad), check=False)
    assert out.returncode == 1 and "the audit key is unusable" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (fresh.data_dir / "ca" / "user_ca").exists()
