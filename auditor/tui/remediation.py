"""A failure's remediation, spelled out for the node it happened on."""

from __future__ import annotations

from auditor.index import Failure, FailureKind


def remediation(f: Failure) -> str:
    """The kind's hint, plus the exact commands and config lines where they are known."""
    try:
        kind = FailureKind(f.kind)
    except ValueError:
        return f.hint or ""
    node = f.node or "NODE"
    hint = f.hint or kind.hint
    if kind is FailureKind.MAXSTARTUPS:
        return (
            f"{hint}\n\nOn {node}, in /etc/ssh/sshd_config:\n"
            "    MaxStartups 50:30:100\n"
            "then: systemctl reload ssh"
        )
    if kind is FailureKind.HOST_CERT_MISSING:
        return (
            f"{hint}\n\nOn the auditor host:\n"
            f"    auditor ca sign --host={node} --format=openssh\n"
            f"copy {node} and {node}-cert.pub to /etc/ssh/ on {node}, and in sshd_config:\n"
            f"    HostKey /etc/ssh/{node}\n"
            f"    HostCertificate /etc/ssh/{node}-cert.pub\n"
            "then: systemctl reload ssh"
        )
    return hint
