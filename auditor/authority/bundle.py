"""The certificate authorities carried to another proxy: ``ca export --private`` / ``ca import``.

Every proxy of a fleet must sign with the same CAs, or the one
``@cert-authority`` line users trust and the one ``TrustedUserCAKeys`` each
node trusts would cover only one proxy. The bundle is both CAs' private
keys in OpenSSH's format inside a small JSON document: written 0600, never
over an existing file, and read back only from a file nobody else can read
(the same rule ssh applies to private keys). Importing never replaces a
different CA: that would lock out every node and user that trusts it.

The audit signing key travels in the same bundle (``audit``), so every proxy
signs anchors with the one key an outsider checks them with; a different
audit key already here is not replaced either (its signatures would become
an unknown key's). A bundle from before audit keys has none: importing it
keeps or creates this proxy's own, and says so.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import asyncssh

from auditor.authority.audit_key import (
    audit_key_path,
    init_audit_key,
    install_audit_key,
    load_audit_key,
)
from auditor.authority.ca import CA_TYPES, CaType, ca_dir, key_path, load_authority
from auditor.datadir import ensure_private_dir, write_private_file
from auditor.errors import AuditorError

FORMAT = "auditor-ca-bundle/1"


def export_bundle(data_dir: Path, out: Path) -> None:
    """Both CAs' and the audit key's private keys into ``out`` (0600; an existing
    file is kept). A data directory from before audit keys gets one now: the
    bundle is how every proxy comes to share it."""
    keys: dict[str, str] = {
        t: load_authority(data_dir, t).export_private_key("openssh").decode() for t in CA_TYPES
    }
    audit, _ = init_audit_key(data_dir)
    keys["audit"] = audit.export_private_key("openssh").decode()
    data = json.dumps({"format": FORMAT, **keys}, indent=1).encode() + b"\n"
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditorError(f"{out} exists: the CA bundle is never written over a file") from None
    except OSError as exc:
        raise AuditorError(f"cannot write {out}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _read(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    path = Path(source)
    try:
        st = path.stat()
        if st.st_mode & 0o077:
            raise AuditorError(
                f"{path} is readable by others ({stat.filemode(st.st_mode)}): "
                f"it holds private keys; `chmod 600 {path}` and import again"
            )
        return path.read_bytes()
    except FileNotFoundError:
        raise AuditorError(f"{path}: no such file") from None
    except OSError as exc:
        raise AuditorError(f"cannot read {path}: {exc.strerror}") from None


def parse_bundle(
    source: str, data: bytes
) -> tuple[dict[CaType, asyncssh.SSHKey], asyncssh.SSHKey | None]:
    """The CAs, and the audit key (None in a bundle from before audit keys)."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise AuditorError(f"{source}: not a CA bundle from `auditor ca export --private`")
    audit = None
    if "audit" in doc:
        try:
            if not isinstance(doc["audit"], str):
                raise asyncssh.KeyImportError("not a key")
            audit = asyncssh.import_private_key(doc["audit"])
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise AuditorError(f"{source}: the audit key is unusable: {exc}") from None
    keys: dict[CaType, asyncssh.SSHKey] = {}
    for ca_type in CA_TYPES:
        text = doc.get(ca_type)
        try:
            if not isinstance(text, str):
                raise asyncssh.KeyImportError("missing")
            keys[ca_type] = asyncssh.import_private_key(text)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise AuditorError(f"{source}: the {ca_type} CA key is unusable: {exc}") from None
    return keys, audit


def _fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint())


def import_bundle(data_dir: Path, source: str) -> dict[str, tuple[str, str]]:
    """Install the bundle's CAs and audit key; returns each one's fingerprint and
    what happened: ``imported``, ``already here``, or for the audit key of a
    bundle without one, ``created here`` / ``kept``."""
    keys, audit = parse_bundle(source, _read(source))
    existing: dict[CaType, asyncssh.SSHKey] = {}
    for ca_type in CA_TYPES:
        if key_path(data_dir, ca_type).exists():
            existing[ca_type] = load_authority(data_dir, ca_type)
    for ca_type, key in existing.items():
        if key.public_data != keys[ca_type].public_data:
            raise AuditorError(
                f"{data_dir} already has another {ca_type} CA ({_fingerprint(key)}); "
                f"importing would lock out every node and user that trusts it. "
                f"Move {ca_dir(data_dir)} away first if that is what you want"
            )
    mine = load_audit_key(data_dir) if audit_key_path(data_dir).exists() else None
    if audit is not None and mine is not None and mine.public_data != audit.public_data:
        raise AuditorError(
            f"{data_dir} already has another audit key ({_fingerprint(mine)}); importing "
            f"would make the anchors it signed an unknown key's. Move "
            f"{audit_key_path(data_dir)} away first if that is what you want"
        )
    ensure_private_dir(data_dir)
    ensure_private_dir(ca_dir(data_dir))
    result: dict[str, tuple[str, str]] = {}
    for ca_type, key in keys.items():
        written = ca_type not in existing
        if written:
            path = key_path(data_dir, ca_type)
            write_private_file(path, key.export_private_key("openssh"))
            write_private_file(path.with_suffix(".pub"), key.export_public_key("openssh"), 0o644)
        result[ca_type] = (_fingerprint(key), "imported" if written else "already here")
    if audit is not None:
        if mine is None:
            install_audit_key(data_dir, audit)
        result["audit"] = (_fingerprint(audit), "imported" if mine is None else "already here")
    else:
        key, created = init_audit_key(data_dir)
        result["audit"] = (_fingerprint(key), "created here" if created else "kept")
    return result
