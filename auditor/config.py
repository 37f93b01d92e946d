"""The YAML configuration (DESIGN §3), keyed like the reference document.

Every key has a default that works on one machine. Anything unknown, of the
wrong type or out of range is refused with one line naming the file, the key
and what is allowed, because a silently ignored typo in a security tool's
config (``proxy_check_host_keys: no``) is worse than a refusal.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from auditor.durations import parse_duration
from auditor.errors import AuditorError, UsageError
from auditor.storage import BucketAddress, StorageError, index_scheme

RecordingMode = Literal["proxy", "node", "off"]
RECORDING_MODES: tuple[str, ...] = ("proxy", "node", "off")
# How the recording proxy logs in to nodes (DESIGN §13): a certificate it
# mints per session, or the one in the agent the user forwarded.
UpstreamAuth = Literal["certificate", "agent"]
UPSTREAM_AUTH_MODES: tuple[str, ...] = ("certificate", "agent")
# What of the user's typing is recorded (DESIGN §13, auditor/proxy/redact.py).
RecordingInput = Literal["redacted", "all", "none"]
RECORDING_INPUT_MODES: tuple[str, ...] = ("redacted", "all", "none")


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class UserSpec:
    """A user: ``logins`` alone (every node, the form before roles) or ``roles``."""

    name: str
    logins: tuple[str, ...]
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoleSpec:
    """Which logins reach which nodes (``auditor/access.py`` decides with it).

    ``node_labels`` maps a label to the values it may have (``*`` for any,
    ``{'*': '*'}`` for every node of the inventory); ``nodes`` holds name
    patterns for names outside the inventory; ``clusters`` the trusted
    clusters whose nodes the role reaches (their own proxies decide which).
    """

    name: str
    logins: tuple[str, ...]
    node_labels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    nodes: tuple[str, ...] = ()
    clusters: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrustedCluster:
    name: str
    proxy_addr: HostPort


@dataclass(frozen=True)
class NodeSpec:
    name: str
    addr: str
    labels: Mapping[str, str] = field(default_factory=dict)
    # The start of the node's sshd MaxStartups when its operator raised it
    # (None: sshd's default, 10): the proxy keeps its dials to the node under it.
    max_startups: int | None = None


@dataclass(frozen=True)
class Storage:
    """Where the index and the recordings live (DESIGN §11); None is the data directory."""

    audit_events_uri: str | None = None  # postgresql://...; default SQLite in the data dir
    audit_sessions_uri: str | None = None  # s3://BUCKET/PREFIX?endpoint=...; default files


@dataclass(frozen=True)
class Retention:
    """How long sessions (by their end) and failures are kept; None keeps them for good.

    ``auditor prune`` applies it, and every proxy once a day.
    """

    sessions: float | None = None
    failures: float | None = None

    @property
    def any(self) -> bool:
        return self.sessions is not None or self.failures is not None


MIN_RETENTION = 3600.0  # shorter is surely a typo (`sessions: 90` is 90 seconds)


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
class Config:
    cluster_name: str = "example.com"
    session_recording: RecordingMode = "proxy"
    session_recording_input: RecordingInput = "redacted"
    proxy_checks_host_keys: bool = True
    upstream_auth: UpstreamAuth = "certificate"
    # The source-address option of the certificates the proxy mints for nodes.
    upstream_source_addresses: tuple[str, ...] = ()
    listen_addr: HostPort = HostPort("127.0.0.1", 3023)
    public_addr: tuple[str, ...] = ()
    # Self-protection and node dialling (DESIGN §5); sshd's own defaults.
    # sshd's MaxStartups is 100; a proxy in front of a fleet takes bursts of a
    # thousand clients at once (one held after its version line costs ~22 KiB,
    # bench/bench_burst.py: the 2,000 of the cap about 45 MB).
    max_unauthenticated: int = 2000
    login_grace_time: float = 120.0
    # MaxStartups drops are retried until dial_timeout; attempts only caps the tries.
    # A dial's wait in the proxy's queue for its node counts too: long enough for
    # a burst of hundreds of sessions to one node at sshd's default MaxStartups.
    dial_attempts: int = 50
    dial_timeout: float = 30.0
    # The one-hop path (`auditor connect`) beside the nested one (DESIGN §12).
    one_hop: bool = True
    # Seconds a live recording's written bytes may wait for the disk (fdatasync):
    # 0 after every flush, None (`off`) never (the page cache decides).
    recording_sync: float | None = 1.0
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


class ConfigError(AuditorError):
    pass


def parse_host_port(text: str, default_port: int | None = None) -> HostPort:
    """``host:port``, ``[v6]:port``, or ``host`` when a default port is given."""
    text = text.strip()
    host: str
    port_s: str | None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError("unclosed '[' in address")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError("expected ':PORT' after ']'")
        port_s = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, port_s = text.split(":")
    elif ":" in text:
        raise ValueError("IPv6 addresses need brackets: [ADDR]:PORT")
    else:
        host, port_s = text, None
    if port_s is None:
        if default_port is None:
            raise ValueError("expected HOST:PORT")
        port = default_port
    else:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise ValueError(f"port must be 1-65535, got {port_s!r}")
        port = int(port_s)
    if not host:
        raise ValueError("empty host")
    return HostPort(host, port)


class _Reader:
    """Walks the parsed YAML, naming the file and key in every refusal."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {key}: {msg}")

    def mapping(self, value: Any, key: str, allowed: tuple[str, ...] | None) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {_kind(value)}")
        for k in value:
            if not isinstance(k, str):
                raise self.fail(key, f"keys must be strings, got {k!r}")
            if allowed is not None and k not in allowed:
                path = f"{key}.{k}" if key else k
                raise self.fail(path, f"unknown key; allowed: {', '.join(allowed)}")
        return value

    def string(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, f"expected a non-empty string, got {_kind(value)}")
        return value.strip()

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"expected yes or no, got {value!r}")
        return value

    def integer(self, value: Any, key: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise self.fail(key, f"expected an integer from {lo} to {hi}, got {value!r}")
        return value

    def duration(self, value: Any, key: str) -> float:
        try:
            return parse_duration(value, key)
        except UsageError:
            raise self.fail(key, f"expected a duration like 30s or 2m, got {value!r}") from None

    def host_port(self, value: Any, key: str, default_port: int | None = None) -> HostPort:
        if isinstance(value, int) and not isinstance(value, bool):
            value = f":{value}"
        text = self.string(value, key)
        if text.startswith(":"):
            text = "0.0.0.0" + text
        try:
            return parse_host_port(text, default_port)
        except ValueError as exc:
            raise self.fail(key, f"{exc}; expected HOST:PORT, got {value!r}") from None

    def listen_addr(self, value: Any, key: str) -> HostPort:
        """Where a listener binds: always with its host, since a port alone
        (``3023``, ``:3023``) would quietly open it to every interface."""
        bare = str(value).strip() if isinstance(value, int | str) else ""
        port = bare.removeprefix(":")
        if not isinstance(value, bool) and port.isdigit():
            raise self.fail(
                key,
                f"a port alone would listen on every interface; write 127.0.0.1:{port} "
                f"(this machine only) or 0.0.0.0:{port} (reachable from other machines)",
            )
        return self.host_port(value, key)

    def string_list(self, value: Any, key: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of strings, got {_kind(value)}")
        return tuple(self.string(v, f"{key}[{i}]") for i, v in enumerate(value))


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_TOP = (
    "auth_service",
    "proxy_service",
    "storage",
    "retention",
    "users",
    "roles",
    "trusted_clusters",
    "nodes",
)
_STORAGE = ("audit_events_uri", "audit_sessions_uri")
_RETENTION = ("sessions", "failures")
_AUTH = (
    "cluster_name",
    "session_recording",
    "proxy_checks_host_keys",
    "upstream_auth",
    "session_recording_input",
)
_PROXY = (
    "listen_addr",
    "public_addr",
    "max_unauthenticated",
    "login_grace_time",
    "dial_attempts",
    "dial_timeout",
    "one_hop",
    "upstream_source_addresses",
    "recording_sync",
)


def parse_config(data: Any, source: str = "<config>") -> Config:
    r = _Reader(source)
    top = r.mapping(data, "", _TOP)
    kw: dict[str, Any] = {}

    auth = r.mapping(top.get("auth_service"), "auth_service", _AUTH)
    if "cluster_name" in auth:
        kw["cluster_name"] = r.string(auth["cluster_name"], "auth_service.cluster_name")
    if "session_recording" in auth:
        mode = auth["session_recording"]
        # YAML 1.1 reads a bare `off` as false: the operator meant the mode.
        if mode is False:
            mode = "off"
        if mode not in RECORDING_MODES:
            raise r.fail(
                "auth_service.session_recording",
                f"expected one of {', '.join(RECORDING_MODES)}; got {mode!r}",
            )
        kw["session_recording"] = mode
    if "proxy_checks_host_keys" in auth:
        kw["proxy_checks_host_keys"] = r.boolean(
            auth["proxy_checks_host_keys"], "auth_service.proxy_checks_host_keys"
        )
    if "upstream_auth" in auth:
        upstream = auth["upstream_auth"]
        if upstream not in UPSTREAM_AUTH_MODES:
            raise r.fail(
                "auth_service.upstream_auth",
                f"expected one of {', '.join(UPSTREAM_AUTH_MODES)}; got {upstream!r}",
            )
        kw["upstream_auth"] = upstream
    if "session_recording_input" in auth:
        typed = auth["session_recording_input"]
        if typed not in RECORDING_INPUT_MODES:
            raise r.fail(
                "auth_service.session_recording_input",
                f"expected one of {', '.join(RECORDING_INPUT_MODES)}; got {typed!r}",
            )
        kw["session_recording_input"] = typed

    proxy = r.mapping(top.get("proxy_service"), "proxy_service", _PROXY)
    readers: dict[str, Callable[[Any, str], Any]] = {
        "listen_addr": r.listen_addr,
        "public_addr": r.string_list,
        "max_unauthenticated": lambda v, k: r.integer(v, k, 1, 100_000),
        "login_grace_time": r.duration,
        "dial_attempts": lambda v, k: r.integer(v, k, 1, 1000),
        "dial_timeout": r.duration,
        "one_hop": r.boolean,
        "upstream_source_addresses": lambda v, k: _source_addresses(r, v, k),
        "recording_sync": lambda v, k: _recording_sync(r, v, k),
    }
    for key, read in readers.items():
        if key in proxy:
            kw[key] = read(proxy[key], f"proxy_service.{key}")

    if "storage" in top:
        kw["storage"] = _storage(r, r.mapping(top["storage"], "storage", _STORAGE))

    if "retention" in top:
        kw["retention"] = _retention(r, r.mapping(top["retention"], "retention", _RETENTION))

    kw["roles"] = _roles(r, top.get("roles"))
    if "users" in top:
        kw["users"] = _users(r, top["users"], kw["roles"])

    clusters: dict[str, TrustedCluster] = {}
    for name, spec in r.mapping(top.get("trusted_clusters"), "trusted_clusters", None).items():
        body = r.mapping(spec, f"trusted_clusters.{name}", ("proxy_addr",))
        if "proxy_addr" not in body:
            raise r.fail(f"trusted_clusters.{name}.proxy_addr", "required: HOST:PORT of its proxy")
        proxy_addr = r.host_port(body["proxy_addr"], f"trusted_clusters.{name}.proxy_addr", 3023)
        clusters[name] = TrustedCluster(name, proxy_addr)
    kw["trusted_clusters"] = clusters
    for role in kw["roles"].values():
        for i, cluster in enumerate(role.clusters):
            if cluster != "*" and cluster not in clusters:
                known = ", ".join(sorted(clusters)) or "none configured"
                raise r.fail(
                    f"roles.{role.name}.clusters[{i}]",
                    f"unknown cluster {cluster!r} (trusted_clusters: {known})",
                )

    nodes: dict[str, NodeSpec] = {}
    for name, spec in r.mapping(top.get("nodes"), "nodes", None).items():
        body = r.mapping(spec, f"nodes.{name}", ("addr", "labels", "max_startups"))
        addr = r.string(body.get("addr", name), f"nodes.{name}.addr")
        labels_in = r.mapping(body.get("labels"), f"nodes.{name}.labels", None)
        labels = {k: r.string(str(v), f"nodes.{name}.labels.{k}") for k, v in labels_in.items()}
        max_startups = body.get("max_startups")
        if max_startups is not None:
            max_startups = r.integer(max_startups, f"nodes.{name}.max_startups", 1, 10_000)
        nodes[name.lower()] = NodeSpec(name, addr, labels, max_startups)
    kw["nodes"] = nodes
    return Config(source=Path(source) if source != "<config>" else None, **kw)


def _source_addresses(r: _Reader, value: Any, key: str) -> tuple[str, ...]:
    """Addresses and CIDR blocks, as sshd reads a certificate's source-address."""
    out: list[str] = []
    for i, text in enumerate(r.string_list(value, key)):
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise r.fail(
                f"{key}[{i}]", f"expected an address or CIDR block like 10.0.0.0/8, got {text!r}"
            ) from None
    return tuple(out)


_ROLE = ("logins", "node_labels", "nodes", "clusters")


def _roles(r: _Reader, value: Any) -> dict[str, RoleSpec]:
    roles: dict[str, RoleSpec] = {}
    for name, spec in r.mapping(value, "roles", None).items():
        key = f"roles.{name}"
        body = r.mapping(spec, key, _ROLE)
        if "logins" not in body:
            raise r.fail(f"{key}.logins", "required: the logins this role allows")
        labels: dict[str, tuple[str, ...]] = {}
        for label, allowed in r.mapping(
            body.get("node_labels"), f"{key}.node_labels", None
        ).items():
            where = f"{key}.node_labels.{label}"
            # YAML reads `tier: 1` or `debug: yes` as a number or a bool: labels are
            # strings, read as the nodes section reads them.
            if isinstance(allowed, int | float | bool):
                allowed = str(allowed)
            labels[label] = r.string_list(allowed, where)
            if label == "*" and labels[label] != ("*",):
                raise r.fail(where, "'*' takes '*' only: {'*': '*'} matches every node")
        roles[name] = RoleSpec(
            name,
            r.string_list(body["logins"], f"{key}.logins"),
            labels,
            r.string_list(body.get("nodes", []), f"{key}.nodes"),
            r.string_list(body.get("clusters", []), f"{key}.clusters"),
        )
    return roles


def _users(r: _Reader, value: Any, roles: Mapping[str, RoleSpec]) -> dict[str, UserSpec]:
    users: dict[str, UserSpec] = {}
    for name, spec in r.mapping(value, "users", None).items():
        body = r.mapping(spec, f"users.{name}", ("logins", "roles"))
        if "logins" in body and "roles" in body:
            # Either would be read as widening the other; a reviewer must not have to guess.
            raise r.fail(
                f"users.{name}",
                "give logins (every node, as before roles) or roles, not both: "
                "put the logins in a role",
            )
        if "roles" in body:
            names = r.string_list(body["roles"], f"users.{name}.roles")
            for i, role in enumerate(names):
                if role not in roles:
                    known = ", ".join(sorted(roles)) or "none defined"
                    raise r.fail(
                        f"users.{name}.roles[{i}]", f"unknown role {role!r} (roles: {known})"
                    )
            users[name] = UserSpec(name, (), names)
            continue
        if "logins" not in body:
            raise r.fail(
                f"users.{name}.logins",
                "required: the logins this user may use (every node), or roles",
            )
        users[name] = UserSpec(name, r.string_list(body["logins"], f"users.{name}.logins"))
    return users


def _storage(r: _Reader, body: dict[str, Any]) -> Storage:
    events = sessions = None
    if "audit_events_uri" in body:
        key = "storage.audit_events_uri"
        events = r.string(body[key.partition(".")[2]], key)
        try:
            index_scheme(events)
        except StorageError as exc:
            raise r.fail(key, str(exc).removeprefix(f"{key}: ")) from None
    if "audit_sessions_uri" in body:
        key = "storage.audit_sessions_uri"
        sessions = r.string(body[key.partition(".")[2]], key)
        parts = urlsplit(sessions)
        if parts.scheme.lower() == "s3":
            try:
                BucketAddress.parse(sessions)
            except StorageError as exc:
                raise r.fail(key, str(exc).removeprefix(f"{key}: ")) from None
            return Storage(events, sessions)
        if parts.scheme.lower() != "file":
            raise r.fail(
                key,
                f"{parts.scheme or 'that'}:// is not a place for recordings: expected "
                "s3://BUCKET/PREFIX?endpoint=URL&region=NAME, or file:// (the default)",
            )
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise r.fail(key, f"expected file:///ABSOLUTE/PATH, got {sessions!r}")
    return Storage(events, sessions)


def _retention(r: _Reader, body: dict[str, Any]) -> Retention:
    kept: dict[str, float] = {}
    for name in _RETENTION:
        value = body.get(name)
        if value is None:
            continue  # not given, or empty: kept for good
        key = f"retention.{name}"
        expected = f"expected how long to keep them, like 90d or 52w; got {value!r}"
        if not isinstance(value, str) or value.strip().replace(".", "").isdigit():
            raise r.fail(key, expected)  # a bare number would be seconds
        try:
            seconds = parse_duration(value, key)
        except UsageError:
            raise r.fail(key, expected) from None
        if seconds < MIN_RETENTION:
            raise r.fail(key, f"at least 1h; got {value!r}")
        kept[name] = seconds
    return Retention(**kept)


MAX_RECORDING_SYNC = 30.0  # the kernel writes dirty pages back within about 30 s on its own


def _recording_sync(r: _Reader, value: Any, key: str) -> float | None:
    """``1s``, ``500ms``, ``0`` (every flush) or ``off`` (never); None is off."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None  # YAML 1.1 reads a bare `off` as false
    expected = f"expected a duration like 1s or 500ms, 0 (every flush) or off; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise r.fail(key, expected)
    if str(value).strip().lower() in ("0", "0.0", "0s", "0ms"):
        return 0.0
    try:
        seconds = parse_duration(value, key)
    except UsageError:
        raise r.fail(key, expected) from None
    if seconds > MAX_RECORDING_SYNC:
        raise r.fail(key, f"at most 30s (the kernel's own write-back); got {value!r}")
    return seconds


def config_path(flag: str | None, data_dir: Path) -> Path | None:
    """``--config``, then ``AUDITOR_CONFIG``, then ``DATA_DIR/config.yaml`` if present."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("AUDITOR_CONFIG")
    if env:
        return Path(env).expanduser()
    default = data_dir / "config.yaml"
    return default if default.exists() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    import yaml  # here, not at the top: commands without a config file start faster

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from None
    return parse_config(data, str(path))
