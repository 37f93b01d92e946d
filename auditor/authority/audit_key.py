"""The audit signing key: signs every sealed recording's hash anchor (DESIGN §13).

An ed25519 key beside the CAs (``ca/audit_key``, 0600; ``audit_key.pub``
0644), carried to every proxy with them (``ca export --private``). Its
public line (``ca export --type=audit``) is all an outsider needs to check a
recording with ``auditor verify --key`` or OpenSSH's ``ssh-keygen -Y verify``.

The key's comment keeps when it was made (``created=EPOCH``): a session that
started after that and carries no signature was not sealed by a proxy with
the key, so verify names it instead of calling it an old, unsigned recording.
A data directory made before audit keys gets one at the first ``ca init`` or
proxy start.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import asyncssh

from auditor.authority.ca import KEY_ALG, ca_dir
from auditor.datadir import ensure_private_dir, write_private_file
from auditor.errors import AuditorError

AUDIT_KEY = "audit_key"
_CREATED = re.compile(r"\bcreated=(\d+)\b")


def audit_key_path(data_dir: Path) -> Path:
    return ca_dir(data_dir) / AUDIT_KEY


def new_audit_key(now: float | None = None) -> asyncssh.SSHKey:
    created = int(time.time() if now is None else now)
    return asyncssh.generate_private_key(KEY_ALG, comment=f"auditor audit key created={created}")


def install_audit_key(data_dir: Path, key: asyncssh.SSHKey) -> None:
    ensure_private_dir(data_dir)
    ensure_private_dir(ca_dir(data_dir))
    path = audit_key_path(data_dir)
    write_private_file(path, key.export_private_key("openssh"))
    write_private_file(path.with_suffix(".pub"), key.export_public_key("openssh"), 0o644)


def init_audit_key(data_dir: Path) -> tuple[asyncssh.SSHKey, bool]:
    """The audit key, created now if missing (never replaced); and whether it was."""
    if audit_key_path(data_dir).exists():
        return load_audit_key(data_dir), False
    key = new_audit_key()
    install_audit_key(data_dir, key)
    return key, True


def load_audit_key(data_dir: Path) -> asyncssh.SSHKey:
    path = audit_key_path(data_dir)
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError:
        raise AuditorError(
            f"no audit key in {ca_dir(data_dir)}: run `auditor ca init` to create one"
        ) from None
    except (OSError, asyncssh.KeyImportError) as exc:
        raise AuditorError(f"{path}: cannot load the audit key: {exc}") from None


def audit_public_key(data_dir: Path) -> asyncssh.SSHKey | None:
    """The audit key's public half as this data directory has it; None without one."""
    path = audit_key_path(data_dir)
    pub = path.with_suffix(".pub")
    try:
        return asyncssh.read_public_key(pub)
    except FileNotFoundError:
        if not path.exists():
            return None
        return load_audit_key(data_dir).convert_to_public()
    except (OSError, asyncssh.KeyImportError) as exc:
        raise AuditorError(f"{pub}: cannot load the audit public key: {exc}") from None


def key_created(key: asyncssh.SSHKey) -> float | None:
    """When the key was made, from its comment; None for a key without one."""
    comment = key.get_comment() or ""
    found = _CREATED.search(comment)
    return float(found.group(1)) if found else None


def audit_export_line(data_dir: Path, cluster_name: str) -> str:
    """``ssh-ed25519 AAAA... auditor-audit@CLUSTER``: an allowed_signers key for outsiders."""
    key = audit_public_key(data_dir)
    if key is None:
        raise AuditorError(
            f"no audit key in {ca_dir(data_dir)}: run `auditor ca init` to create one"
        )
    pub = " ".join(key.export_public_key("openssh").decode().split()[:2])
    return f"{pub} auditor-audit@{cluster_name}"


def read_key_file(source: str) -> asyncssh.SSHKey:
    """``verify --key FILE``: an OpenSSH public key line (a private key file is refused)."""
    path = Path(source)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise AuditorError(f"--key {source}: no such file") from None
    except IsADirectoryError:
        raise AuditorError(f"--key {source}: is a directory, not a public key file") from None
    except OSError as exc:
        raise AuditorError(f"--key {source}: cannot read: {exc.strerror}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(b"#")]
    if b"PRIVATE KEY" in text:
        raise AuditorError(
            f"--key {source}: a private key; give the public line "
            "of `auditor ca export --type=audit`"
        )
    try:
        if len(lines) != 1:
            raise asyncssh.KeyImportError("expected one key line")
        return asyncssh.import_public_key(lines[0])
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise AuditorError(
            f"--key {source}: not an OpenSSH public key line ({exc}); "
            "expected the output of `auditor ca export --type=audit`"
        ) from None
