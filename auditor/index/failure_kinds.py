"""Why a connection failed (DESIGN §7), and what the operator should do about it.

The hints live here, in one place, so the CLI, the TUI and the index rows
all give the same advice.
"""

from __future__ import annotations

import enum


class FailureKind(enum.StrEnum):
    MAXSTARTUPS = "maxstartups"
    HOST_CERT_MISSING = "host_cert_missing"
    HOST_CERT_UNTRUSTED = "host_cert_untrusted"
    HOST_PRINCIPAL_MISMATCH = "host_principal_mismatch"
    HOST_CERT_EXPIRED = "host_cert_expired"
    AGENT_NOT_FORWARDED = "agent_not_forwarded"
    AGENT_NO_CERTIFICATE = "agent_no_certificate"
    USER_AUTH_FAILED = "user_auth_failed"
    LOGIN_DENIED = "login_denied"
    NODE_AUTH_FAILED = "node_auth_failed"
    NODE_UNREACHABLE = "node_unreachable"
    BAD_REQUEST = "bad_request"
    UNKNOWN_CLUSTER = "unknown_cluster"
    PROTOCOL_ERROR = "protocol_error"
    SUBSYSTEM_REFUSED = "subsystem_refused"
    REQUEST_REFUSED = "request_refused"
    ACCESS_DENIED = "access_denied"
    DIAL_QUEUED = "dial_queued"

    @property
    def hint(self) -> str:
        return HINTS[self]


HINTS: dict[FailureKind, str] = {
    FailureKind.MAXSTARTUPS: (
        "the node's sshd dropped the connection (Exceeded MaxStartups): raise "
        "`MaxStartups 50:30:100` in sshd_config and restart sshd"
    ),
    FailureKind.HOST_CERT_MISSING: (
        "`auditor ca sign --host=NODE --format=openssh` and add `HostKey`/`HostCertificate` "
        "lines to sshd_config, then restart sshd (or set proxy_checks_host_keys: no, "
        "accepting the MITM risk)"
    ),
    FailureKind.HOST_CERT_UNTRUSTED: (
        "the node's host certificate is from another CA: re-sign it with "
        "`auditor ca sign --host=NODE --format=openssh` and update HostCertificate"
    ),
    FailureKind.HOST_PRINCIPAL_MISMATCH: (
        "the node's host certificate names other hosts: re-sign it with "
        "`auditor ca sign --host=NAME` using the name clients dial"
    ),
    FailureKind.HOST_CERT_EXPIRED: (
        "the node's host certificate has expired or is not yet valid: re-sign it with "
        "`auditor ca sign --host=NODE --format=openssh` and check the node's clock"
    ),
    FailureKind.AGENT_NOT_FORWARDED: (
        "(upstream_auth: agent) forward the agent to the proxy: `-o 'ForwardAgent yes'` in "
        "the ProxyCommand's ssh (see `auditor config ssh`), or let the proxy mint the "
        "node's certificate (upstream_auth: certificate)"
    ),
    FailureKind.AGENT_NO_CERTIFICATE: (
        "(upstream_auth: agent) the forwarded agent holds no user certificate: run "
        "`auditor login --user=NAME` and check `ssh-add -L`"
    ),
    FailureKind.USER_AUTH_FAILED: (
        "the user certificate was refused by the proxy: run `auditor login --user=NAME` "
        "again (it may have expired)"
    ),
    FailureKind.LOGIN_DENIED: (
        "the user may not use this login: add it to users.NAME.logins in the config"
    ),
    FailureKind.NODE_AUTH_FAILED: (
        "the node refused the user certificate: add the user CA "
        "(`auditor ca export --type=user`) to the node's TrustedUserCAKeys and check "
        "that the login is one of the certificate's principals; with "
        "proxy_service.upstream_source_addresses set, that it holds the proxy's address "
        "as the node sees it (the node's sshd log says)"
    ),
    FailureKind.NODE_UNREACHABLE: (
        "check the node's name and port (nodes section of the config, DNS) and that sshd "
        "is running and reachable from the proxy"
    ),
    FailureKind.BAD_REQUEST: (
        "the subsystem request must look like proxy:HOST:PORT[@CLUSTER]; see `auditor config ssh`"
    ),
    FailureKind.UNKNOWN_CLUSTER: (
        "add the cluster to trusted_clusters in the config, or fix the name after @"
    ),
    FailureKind.PROTOCOL_ERROR: (
        "an SSH protocol error: see the raw detail, and compare client, proxy and node versions"
    ),
    FailureKind.SUBSYSTEM_REFUSED: (
        "the node's sshd has no such subsystem: for sftp (and scp, which uses it) add "
        "`Subsystem sftp internal-sftp` to its sshd_config and reload sshd"
    ),
    FailureKind.REQUEST_REFUSED: (
        "the node's sshd refused a shell, command or pty: its log says why (ForceCommand, "
        "PermitTTY no, a Match block, MaxSessions)"
    ),
    FailureKind.ACCESS_DENIED: (
        "no role of the user reaches this node as this login: `auditor access USER NODE` "
        "says which role would and why not; change roles (node_labels, nodes, clusters, "
        "logins) or the user's roles, then reload the proxy (SIGHUP)"
    ),
    FailureKind.DIAL_QUEUED: (
        "the proxy held dials to this node back to stay under its sshd's MaxStartups "
        "(sessions waited, none was dropped for it): if the node's operator raised "
        "MaxStartups, tell the proxy with nodes.NAME.max_startups in the config"
    ),
}

assert set(HINTS) == set(FailureKind)
