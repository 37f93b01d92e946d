"""Handshake failures as the proxy reports them: a kind, what the client is told, why.

Every failure reaches the client as one clear line (never a hang) and the
index as a row with the kind, the message, the remediation hint and the raw
detail for whoever debugs it.
"""

from __future__ import annotations

from auditor.index import FailureKind


class ProxyFailure(Exception):
    """A session that could not be set up; ``kind`` is a DESIGN §7 failure kind."""

    def __init__(self, kind: FailureKind, message: str, detail: str = "", retries: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.detail = detail or message
        self.retries = retries


HOST_CERT_MISSING = (
    "ssh: handshake failed: remote host presented a public key, expected a host certificate"
)


def host_cert_missing(node: str, detail: str = "") -> ProxyFailure:
    return ProxyFailure(
        FailureKind.HOST_CERT_MISSING, HOST_CERT_MISSING, detail or f"{node}: plain host key"
    )


def host_cert_untrusted(node: str, detail: str = "") -> ProxyFailure:
    return ProxyFailure(
        FailureKind.HOST_CERT_UNTRUSTED,
        f"ssh: handshake failed: host certificate of {node} is signed by an untrusted authority",
        detail,
    )


def host_cert_expired(node: str, detail: str = "") -> ProxyFailure:
    return ProxyFailure(
        FailureKind.HOST_CERT_EXPIRED,
        f"ssh: handshake failed: host certificate of {node} has expired or is not yet valid",
        detail,
    )


def host_principal_mismatch(node: str, detail: str = "") -> ProxyFailure:
    return ProxyFailure(
        FailureKind.HOST_PRINCIPAL_MISMATCH,
        f"ssh: handshake failed: host certificate is not valid for {node} "
        "(its principals name another host)",
        detail,
    )


def subsystem_refused(node: str, name: str) -> ProxyFailure:
    """sshd answers an unknown subsystem with a bare failure; the usual cause is its config."""
    fix = (
        "add `Subsystem sftp internal-sftp` to its sshd_config"
        if name == "sftp"
        else f"is there a `Subsystem {name}` line in its sshd_config?"
    )
    return ProxyFailure(
        FailureKind.SUBSYSTEM_REFUSED,
        f"{node} refused the {name} subsystem: {fix}",
        f"subsystem request {name!r} failed on the node",
    )


def request_refused(node: str, what: str) -> ProxyFailure:
    return ProxyFailure(
        FailureKind.REQUEST_REFUSED,
        f"{node} refused {what} (see its sshd log for why)",
        f"{what} request failed on the node",
    )
