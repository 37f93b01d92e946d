"""The configuration file's keys, each declared once: the section it is in, its
type, its default, its bounds (``msgspec.Meta``) and, where YAML's value is not
yet the value, the form that reads it (``auditor.config.values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from auditor.config import values as v
from auditor.config.values import Form, HostPort

RecordingMode = Literal["proxy", "node", "off"]
# How the recording proxy logs in to nodes (DESIGN §13): a certificate it
# mints per session, or the one in the agent the user forwarded.
UpstreamAuth = Literal["certificate", "agent"]
# What of the user's typing is recorded (DESIGN §13, auditor/proxy/redact.py).
RecordingInput = Literal["redacted", "all", "none"]


# The sections and entries of the file. A field of an entry named `name` is its
# key in the section's mapping, not a key inside it.


@dataclass(frozen=True)
class UserSpec:
    """A user: ``logins`` alone (every node, the form before roles) or ``roles``."""

    name: str
    logins: Annotated[
        tuple[str, ...],
        Form(v.strings),
        v.meta(description="the logins this user may use (every node), or roles"),
    ]
    roles: Annotated[tuple[str, ...], Form(v.strings)] = ()


@dataclass(frozen=True)
class RoleSpec:
    """Which logins reach which nodes (``auditor/access_policy.py`` decides with it).

    ``node_labels`` maps a label to the values it may have (``*`` for any,
    ``{'*': '*'}`` for every node of the inventory); ``nodes`` holds name
    patterns for names outside the inventory; ``clusters`` the trusted
    clusters whose nodes the role reaches (their own proxies decide which).
    """

    name: str
    logins: Annotated[
        tuple[str, ...],
        Form(v.strings),
        v.meta(description="the logins this role allows"),
    ]
    node_labels: Annotated[Mapping[str, tuple[str, ...]], Form(v.label_choices)] = field(
        default_factory=dict
    )
    nodes: Annotated[tuple[str, ...], Form(v.strings)] = ()
    clusters: Annotated[tuple[str, ...], Form(v.strings)] = ()


@dataclass(frozen=True)
class TrustedCluster:
    name: str
    proxy_addr: Annotated[
        HostPort,
        Form(v.proxy_addr),
        v.meta(description="HOST:PORT of its proxy"),
    ]


@dataclass(frozen=True)
class NodeSpec:
    name: str
    addr: Annotated[str, Form(v.string)]  # the node's name when not given
    labels: Annotated[Mapping[str, str], Form(v.labels)] = field(default_factory=dict)
    # The start of the node's sshd MaxStartups when its operator raised it
    # (None: sshd's default, 10): the proxy keeps its dials to the node under it.
    max_startups: Annotated[int, v.meta(ge=1, le=10_000)] | None = None


@dataclass(frozen=True)
class Storage:
    """Where the index and the recordings live (DESIGN §11); None is the data directory."""

    # postgresql://...; default SQLite in the data dir
    audit_events_uri: Annotated[str | None, Form(v.events_uri)] = None
    # s3://BUCKET/PREFIX?endpoint=...; default files
    audit_sessions_uri: Annotated[str | None, Form(v.sessions_uri)] = None


@dataclass(frozen=True)
class Retention:
    """How long sessions (by their end) and failures are kept; None keeps them for good.

    ``auditor prune`` applies it, and every proxy once a day.
    """

    sessions: Annotated[float | None, Form(v.kept_for)] = None
    failures: Annotated[float | None, Form(v.kept_for)] = None

    @property
    def any(self) -> bool:
        return self.sessions is not None or self.failures is not None


@dataclass(frozen=True)
class AuthService:
    """``auth_service``: the cluster's name, and what is recorded how."""

    cluster_name: Annotated[str, Form(v.string)] = "example.com"
    # YAML 1.1 reads a bare `off` as false: the operator meant the mode.
    session_recording: Annotated[RecordingMode, Form(v.recording_mode)] = "proxy"
    session_recording_input: RecordingInput = "redacted"
    proxy_checks_host_keys: bool = True
    upstream_auth: UpstreamAuth = "certificate"


@dataclass(frozen=True)
class ProxyService:
    """``proxy_service``: the proxy's listener, its self-protection and its dials."""

    # The source-address option of the certificates the proxy mints for nodes.
    upstream_source_addresses: Annotated[tuple[str, ...], Form(v.source_addresses)] = ()
    listen_addr: Annotated[HostPort, Form(v.listen_addr)] = HostPort("127.0.0.1", 3023)  # noqa: RUF009 (frozen: one shared value is safe)
    public_addr: Annotated[tuple[str, ...], Form(v.strings)] = ()
    # Self-protection and node dialling (DESIGN §5); sshd's own defaults.
    # sshd's MaxStartups is 100; a proxy in front of a fleet takes bursts of a
    # thousand clients at once (one held after its version line costs ~22 KiB,
    # bench/bench_burst.py: the 2,000 of the cap about 45 MB).
    max_unauthenticated: Annotated[int, v.meta(ge=1, le=100_000)] = 2000
    login_grace_time: Annotated[float, Form(v.duration)] = 120.0
    # MaxStartups drops are retried until dial_timeout; attempts only caps the tries.
    # A dial's wait in the proxy's queue for its node counts too: long enough for
    # a burst of hundreds of sessions to one node at sshd's default MaxStartups.
    dial_attempts: Annotated[int, v.meta(ge=1, le=1000)] = 50
    dial_timeout: Annotated[float, Form(v.duration)] = 30.0
    # The one-hop path (`auditor connect`) beside the nested one (DESIGN §12).
    one_hop: bool = True
    # Seconds a live recording's written bytes may wait for the disk (fdatasync):
    # 0 after every flush, None (`off`) never (the page cache decides).
    recording_sync: Annotated[float | None, Form(v.recording_sync)] = 1.0


# What a running proxy reads once, at start: its listener and host certificate
# (listen_addr, public_addr, cluster_name), its index and bucket (storage), its
# disk syncer (recording_sync). A reload (SIGHUP) keeps their running values
# and says they take a restart; every other key applies to new connections.
RESTART_KEYS: tuple[str, ...] = (
    "listen_addr",
    "public_addr",
    "cluster_name",
    "storage",
    "recording_sync",
)


@dataclass(frozen=True)
class Config(ProxyService, AuthService):
    """The whole file as the rest of the code reads it: the keys of ``auth_service``
    and ``proxy_service`` flat, inherited from their sections (a dataclass takes its
    last base's fields first), then the other sections. Flat because the proxy's
    reload compares and keeps keys by name (``RESTART_KEYS``)."""

    users: Mapping[str, UserSpec] | None = None
    roles: Mapping[str, RoleSpec] = field(default_factory=dict)
    trusted_clusters: Mapping[str, TrustedCluster] = field(default_factory=dict)
    nodes: Mapping[str, NodeSpec] = field(default_factory=dict)
    storage: Storage = Storage()
    retention: Retention = Retention()
    source: Path | None = None

    def logins_for(self, user: str) -> tuple[str, ...] | None:
        """The logins ``user`` may use; ``None`` when no ``users`` section limits them."""
        if self.users is None:
            return None
        spec = self.users.get(user)
        if spec is None:
            return ()
        if not spec.roles:
            return spec.logins
        # A user with roles: the union of its roles' logins, in the order given.
        logins = (login for role in spec.roles for login in self.roles[role].logins)
        return tuple(dict.fromkeys(logins))


# The file's top level: sections of keys, and sections of named entries. An
# unknown top-level key lists them in this order.
SECTIONS: dict[str, type] = {
    "auth_service": AuthService,
    "proxy_service": ProxyService,
    "storage": Storage,
    "retention": Retention,
}
ENTRIES: dict[str, type] = {
    "users": UserSpec,
    "roles": RoleSpec,
    "trusted_clusters": TrustedCluster,
    "nodes": NodeSpec,
}
