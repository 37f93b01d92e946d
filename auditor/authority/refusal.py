"""Why a user certificate cannot log in, in one line for the user (DESIGN §13).

The proxy sends the line as an SSH authentication banner when it refuses a
certificate, so OpenSSH prints it just before its own ``Permission denied``
(plain ssh, scp, sftp and git alike); ``auditor ssh`` looks at the agent
before it connects and says the same line without a round trip. A key ID,
a login and principals are whatever the certificate and the client say:
they reach the user's terminal with their control characters escaped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from auditor.textsafe import visible

USER_KEY_ID = "auditor:user:"


@dataclass(frozen=True)
class CertificateFacts:
    """What a refusal is about, read from an asyncssh OpenSSH certificate."""

    key_id: str
    principals: tuple[str, ...]
    valid_after: int
    valid_before: int

    @classmethod
    def of(cls, cert: Any) -> CertificateFacts:
        # asyncssh keeps the key ID and the validity private.
        raw = getattr(cert, "_key_id", b"")
        key_id = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        return cls(
            key_id,
            tuple(cert.principals),
            int(cert._valid_after),
            int(cert._valid_before),
        )

    @property
    def user(self) -> str | None:
        """``joe`` for ``auditor:user:joe``; None for a certificate auditor did not issue."""
        if not self.key_id.startswith(USER_KEY_ID):
            return None
        return self.key_id[len(USER_KEY_ID) :].split(" ", 1)[0] or None


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


def _login_again(user: str | None) -> str:
    return f"run auditor login --user={visible(user) if user else 'NAME'}"


def certificate_refusal(
    facts: CertificateFacts, login: str, now: float, *, trusted_ca: bool
) -> str | None:
    """The line for a certificate that cannot log in as ``login`` now; None if it can.

    The order is asyncssh's (and sshd's): the CA, then the validity, then the principals.
    """
    key = visible(facts.key_id) or "(no key ID)"
    if not trusted_ca:
        return (
            f"auditor: certificate {key} is not signed by this proxy's user CA; "
            f"{_login_again(facts.user)}"
        )
    if now >= facts.valid_before:
        return f"auditor: your certificate {key} expired at {_when(facts.valid_before)}; " + (
            _login_again(facts.user)
        )
    if now < facts.valid_after:
        return (
            f"auditor: your certificate {key} is not valid before {_when(facts.valid_after)} "
            "(is this machine's clock right?)"
        )
    if facts.principals and login not in facts.principals:
        allowed = ", ".join(visible(p) for p in facts.principals)
        return (
            f"auditor: your certificate {key} is not valid for login '{visible(login)}' "
            f"(only {allowed})"
        )
    return None


def no_certificate(user: str | None = None) -> str:
    """A client that offered no certificate at all (an empty agent, or plain keys only)."""
    return f"auditor: no auditor certificate offered; {_login_again(user)}"
