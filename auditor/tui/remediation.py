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
    if kind is FailureKind.DIAL_QUEUED:
        return (
            f"{hint}\n\nIf {node}'s sshd_config has, say, MaxStartups 50:30:100, "
            "then in the auditor config:\n"
            f"    nodes: {{{node}: {{max_startups: 50}}}}\n"
            "then: kill -HUP the proxy (its pid is in DATA_DIR/proxy.json)"
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
