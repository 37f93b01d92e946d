"""The certificate authorities carried to another proxy: ``ca export --private`` / ``ca import``.

Every proxy of a fleet must sign with the same CAs, or the one
``@cert-authority`` line users trust and the one ``TrustedUserCAKeys`` each
node trusts would cover only one proxy. The bundle is both CAs' private
keys in OpenSSH's format inside a small JSON document: written 0600, never
over an existing file, and read back only from a file nobody else can read
(the same rule ssh applies to private keys). Importing never replaces a
different CA: that would lock out every node and user that trusts it.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import asyncssh

from auditor.authority.ca import CA_TYPES, CaType, ca_dir, key_path, load_authority
from auditor.datadir import ensure_private_dir, write_private_file
from auditor.errors import AuditorError

FORMAT = "auditor-ca-bundle/1"


def export_bundle(data_dir: Path, out: Path) -> None:
    """Both CAs' private keys into ``out`` (0600; an existing file is kept)."""
    keys = {t: load_authority(data_dir, t).export_private_key("openssh").decode() for t in CA_TYPES}
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


def parse_bundle(source: str, data: bytes) -> dict[CaType, asyncssh.SSHKey]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise AuditorError(f"{source}: not a CA bundle from `auditor ca export --private`")
    keys: dict[CaType, asyncssh.SSHKey] = {}
    for ca_type in CA_TYPES:
        text = doc.get(ca_type)
        try:
            if not isinstance(text, str):
                raise asyncssh.KeyImportError("missing")
            keys[ca_type] = asyncssh.import_private_key(text)
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise AuditorError(f"{source}: the {ca_type} CA key is unusable: {exc}") from None
    return keys


def _fingerprint(key: asyncssh.SSHKey) -> str:
    return str(key.get_fingerprint())


def import_bundle(data_dir: Path, source: str) -> dict[CaType, tuple[str, bool]]:
    """Install the bundle's CAs; returns each CA's fingerprint and whether it
    was written now (False: this data dir has it already)."""
    keys = parse_bundle(source, _read(source))
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
    ensure_private_dir(data_dir)
    ensure_private_dir(ca_dir(data_dir))
    result: dict[CaType, tuple[str, bool]] = {}
    for ca_type, key in keys.items():
        written = ca_type not in existing
        if written:
            path = key_path(data_dir, ca_type)
            write_private_file(path, key.export_private_key("openssh"))
            write_private_file(path.with_suffix(".pub"), key.export_public_key("openssh"), 0o644)
        result[ca_type] = (_fingerprint(key), written)
    return result
