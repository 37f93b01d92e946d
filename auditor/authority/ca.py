"""The two certificate authorities (DESIGN §4) and the certificates they mint.

The user CA signs the certificates users log in with (sshd trusts it through
``TrustedUserCAKeys``); the host CA signs the certificates nodes and the proxy
present (clients trust it through one ``@cert-authority`` line).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncssh

from auditor.datadir import ensure_private_dir, write_private_file
from auditor.errors import AuditorError

CaType = Literal["user", "host"]
CA_TYPES: tuple[CaType, ...] = ("user", "host")
KEY_ALG = "ssh-ed25519"
# Certificates start this long in the past, so a node whose clock lags the
# proxy's by a few seconds does not see a certificate from the future.
CLOCK_SKEW = 60


class CaNotInitialised(AuditorError):
    def __init__(self, data_dir: Path) -> None:
        super().__init__(
            f"certificate authority not initialised in {data_dir}: run `auditor ca init`"
        )


@dataclass(frozen=True)
class IssuedCertificate:
    key: asyncssh.SSHKey
    cert: asyncssh.SSHCertificate
    valid_before: int


def ca_dir(data_dir: Path) -> Path:
    return data_dir / "ca"


def key_path(data_dir: Path, ca_type: CaType) -> Path:
    return ca_dir(data_dir) / f"{ca_type}_ca"


def init_authorities(data_dir: Path) -> dict[CaType, tuple[asyncssh.SSHKey, bool]]:
    """Create whichever CA is missing; never replace one that exists.

    Returns each CA's key and whether it was created now. Replacing a CA
    would silently lock every node and user out, so that is not offered.
    """
    ensure_private_dir(data_dir)
    ensure_private_dir(ca_dir(data_dir))
    out: dict[CaType, tuple[asyncssh.SSHKey, bool]] = {}
    for ca_type in CA_TYPES:
        path = key_path(data_dir, ca_type)
        if path.exists():
            out[ca_type] = (load_authority(data_dir, ca_type), False)
            continue
        key = asyncssh.generate_private_key(KEY_ALG, comment=f"auditor {ca_type} CA")
        write_private_file(path, key.export_private_key("openssh"))
        write_private_file(path.with_suffix(".pub"), key.export_public_key("openssh"), 0o644)
        out[ca_type] = (key, True)
    return out


def load_authority(data_dir: Path, ca_type: CaType) -> asyncssh.SSHKey:
    path = key_path(data_dir, ca_type)
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError:
        raise CaNotInitialised(data_dir) from None
    except (OSError, asyncssh.KeyImportError) as exc:
        raise AuditorError(f"{path}: cannot load the {ca_type} CA key: {exc}") from None


def ensure_authorities(data_dir: Path) -> None:
    """For the proxy and the TUI: with no setup at all, CAs are made on first use."""
    if not all(key_path(data_dir, t).exists() for t in CA_TYPES):
        init_authorities(data_dir)


def export_line(data_dir: Path, ca_type: CaType, cluster_name: str) -> str:
    """The line the reference's ``tctl auth export --type=...`` prints.

    user: ``cert-authority KEY`` for authorized_keys (drop the first word for
    ``TrustedUserCAKeys``); host: ``@cert-authority *.CLUSTER KEY`` for
    known_hosts.
    """
    key = load_authority(data_dir, ca_type)
    pub = " ".join(key.export_public_key("openssh").decode().split()[:2])
    if ca_type == "user":
        return f"cert-authority {pub} auditor-user-ca@{cluster_name}"
    # ssh looks nodes on other ports up as "[name]:port": cover those too.
    patterns = f"*.{cluster_name},[*.{cluster_name}]:*"
    return f"@cert-authority {patterns} {pub} auditor-host-ca@{cluster_name}"


def mint_host_certificate(
    ca: asyncssh.SSHKey,
    principals: list[str],
    ttl: float,
    key: asyncssh.SSHKey | None = None,
) -> IssuedCertificate:
    """A host key (new unless given) and its certificate for ``principals``."""
    key = key or asyncssh.generate_private_key(KEY_ALG, comment=principals[0])
    now = int(time.time())
    valid_before = now + int(ttl)
    cert = ca.generate_host_certificate(
        key,
        f"auditor:host:{principals[0]}",
        principals=principals,
        valid_after=now - CLOCK_SKEW,
        valid_before=valid_before,
        comment=principals[0],
    )
    return IssuedCertificate(key, cert, valid_before)


def mint_user_certificate(
    ca: asyncssh.SSHKey,
    user: str,
    logins: list[str],
    ttl: float,
    key: asyncssh.SSHKey | None = None,
) -> IssuedCertificate:
    """A user key and a certificate for ``logins``, allowed a pty and agent forwarding.

    Agent forwarding is what lets the recording proxy reach the node with the
    same certificate under ``upstream_auth: agent`` (DESIGN §5), so it is always
    permitted; a certificate the proxy mints for a node never grants more than
    this one (``auditor.proxy.upstream_cert``).
    """
    key = key or asyncssh.generate_private_key(KEY_ALG, comment=f"auditor:{user}")
    now = int(time.time())
    valid_before = now + int(ttl)
    cert = ca.generate_user_certificate(
        key,
        f"auditor:user:{user}",
        principals=logins,
        valid_after=now - CLOCK_SKEW,
        valid_before=valid_before,
        permit_agent_forwarding=True,
        permit_pty=True,
        permit_port_forwarding=True,
        permit_x11_forwarding=False,
        permit_user_rc=True,
        comment=f"auditor:{user}",
    )
    return IssuedCertificate(key, cert, valid_before)


def write_host_files(issued: IssuedCertificate, out_dir: Path, name: str) -> tuple[Path, Path]:
    """``NAME`` and ``NAME-cert.pub``: what sshd's HostKey/HostCertificate lines name."""
    key_file, cert_file = out_dir / name, out_dir / f"{name}-cert.pub"
    try:
        if not out_dir.is_dir():
            raise AuditorError(f"cannot write to {out_dir}: not a directory")
        write_private_file(key_file, issued.key.export_private_key("openssh"))
        write_private_file(cert_file, issued.cert.export_certificate("openssh"), 0o644)
    except PermissionError:
        raise AuditorError(f"cannot write to {out_dir}: permission denied") from None
    except OSError as exc:
        raise AuditorError(f"cannot write to {out_dir}: {exc.strerror}") from None
    return key_file, cert_file
