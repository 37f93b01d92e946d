"""The YAML configuration (DESIGN §3), keyed like the reference document.

Every key has a default that works on one machine. Anything unknown, of the
wrong type or out of range is refused with one line naming the file, the key
and what is allowed, because a silently ignored typo in a security tool's
config (``proxy_check_host_keys: no``) is worse than a refusal.

Each key is declared once, as a field of the dataclass its section reads into:
its type, default and bounds (``msgspec.Meta``), and, where YAML's value is not
yet the value (``30s``, ``HOST:PORT``, one string for a list of one), the
``Form`` that reads it. msgspec validates against those declarations; the
refusals it raises are put back into the one-line form above.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, get_args, get_type_hints
from urllib.parse import urlsplit

from auditor.durations import parse_duration
from auditor.errors import AuditorError, UsageError
from auditor.storage import EVENTS_KEY, SESSIONS_KEY, BucketAddress, StorageError, index_scheme

if TYPE_CHECKING:
    import msgspec

RecordingMode = Literal["proxy", "node", "off"]
# How the recording proxy logs in to nodes (DESIGN §13): a certificate it
# mints per session, or the one in the agent the user forwarded.
UpstreamAuth = Literal["certificate", "agent"]
# What of the user's typing is recorded (DESIGN §13, auditor/proxy/redact.py).
RecordingInput = Literal["redacted", "all", "none"]
T = TypeVar("T")

MIN_RETENTION = 3600.0  # shorter is surely a typo (`sessions: 90` is 90 seconds)
MAX_RECORDING_SYNC = 30.0  # the kernel writes dirty pages back within about 30 s on its own


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Form:
    """How a key's YAML value becomes its value where its type cannot say it.

    ``read`` takes what YAML parsed and returns the value, or raises ``_Refused``
    saying what is allowed; msgspec then checks the result against the type.
    """

    read: Callable[[Any], Any]


def _meta(**constraints: Any) -> msgspec.Meta:
    """``msgspec.Meta``, made when the annotations are first read (at the first
    parse), so that importing this module does not import msgspec: every command
    imports it, and one run without a config file never needs msgspec."""
    import msgspec

    return msgspec.Meta(**constraints)


# The sections and entries of the file. A field of an entry named `name` is its
# key in the section's mapping, not a key inside it.


@dataclass(frozen=True)
class UserSpec:
    """A user: ``logins`` alone (every node, the form before roles) or ``roles``."""

    name: str
    logins: Annotated[
        tuple[str, ...],
        Form(_strings),
        _meta(description="the logins this user may use (every node), or roles"),
    ]
    roles: Annotated[tuple[str, ...], Form(_strings)] = ()


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
        Form(_strings),
        _meta(description="the logins this role allows"),
    ]
    node_labels: Annotated[Mapping[str, tuple[str, ...]], Form(_label_choices)] = field(
        default_factory=dict
    )
    nodes: Annotated[tuple[str, ...], Form(_strings)] = ()
    clusters: Annotated[tuple[str, ...], Form(_strings)] = ()


@dataclass(frozen=True)
class TrustedCluster:
    name: str
    proxy_addr: Annotated[
        HostPort,
        Form(_proxy_addr),
        _meta(description="HOST:PORT of its proxy"),
    ]


@dataclass(frozen=True)
class NodeSpec:
    name: str
    addr: Annotated[str, Form(_text)]  # the node's name when not given
    labels: Annotated[Mapping[str, str], Form(_labels)] = field(default_factory=dict)
    # The start of the node's sshd MaxStartups when its operator raised it
    # (None: sshd's default, 10): the proxy keeps its dials to the node under it.
    max_startups: Annotated[int, _meta(ge=1, le=10_000)] | None = None


@dataclass(frozen=True)
class Storage:
    """Where the index and the recordings live (DESIGN §11); None is the data directory."""

    # postgresql://...; default SQLite in the data dir
    audit_events_uri: Annotated[str | None, Form(_events_uri)] = None
    # s3://BUCKET/PREFIX?endpoint=...; default files
    audit_sessions_uri: Annotated[str | None, Form(_sessions_uri)] = None


@dataclass(frozen=True)
class Retention:
    """How long sessions (by their end) and failures are kept; None keeps them for good.

    ``auditor prune`` applies it, and every proxy once a day.
    """

    sessions: Annotated[float | None, Form(_kept_for)] = None
    failures: Annotated[float | None, Form(_kept_for)] = None

    @property
    def any(self) -> bool:
        return self.sessions is not None or self.failures is not None


@dataclass(frozen=True)
class AuthService:
    """``auth_service``: the cluster's name, and what is recorded how."""

    cluster_name: Annotated[str, Form(_text)] = "example.com"
    # YAML 1.1 reads a bare `off` as false: the operator meant the mode.
    session_recording: Annotated[RecordingMode, Form(_recording_mode)] = "proxy"
    session_recording_input: RecordingInput = "redacted"
    proxy_checks_host_keys: bool = True
    upstream_auth: UpstreamAuth = "certificate"


@dataclass(frozen=True)
class ProxyService:
    """``proxy_service``: the proxy's listener, its self-protection and its dials."""

    # The source-address option of the certificates the proxy mints for nodes.
    upstream_source_addresses: Annotated[tuple[str, ...], Form(_source_addresses)] = ()
    listen_addr: Annotated[HostPort, Form(_listen_addr)] = HostPort("127.0.0.1", 3023)
    public_addr: Annotated[tuple[str, ...], Form(_strings)] = ()
    # Self-protection and node dialling (DESIGN §5); sshd's own defaults.
    # sshd's MaxStartups is 100; a proxy in front of a fleet takes bursts of a
    # thousand clients at once (one held after its version line costs ~22 KiB,
    # bench/bench_burst.py: the 2,000 of the cap about 45 MB).
    max_unauthenticated: Annotated[int, _meta(ge=1, le=100_000)] = 2000
    login_grace_time: Annotated[float, Form(_duration)] = 120.0
    # MaxStartups drops are retried until dial_timeout; attempts only caps the tries.
    # A dial's wait in the proxy's queue for its node counts too: long enough for
    # a burst of hundreds of sessions to one node at sshd's default MaxStartups.
    dial_attempts: Annotated[int, _meta(ge=1, le=1000)] = 50
    dial_timeout: Annotated[float, Form(_duration)] = 30.0
    # The one-hop path (`auditor connect`) beside the nested one (DESIGN §12).
    one_hop: bool = True
    # Seconds a live recording's written bytes may wait for the disk (fdatasync):
    # 0 after every flush, None (`off`) never (the page cache decides).
    recording_sync: Annotated[float | None, Form(_recording_sync)] = 1.0


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
_SECTIONS: dict[str, type] = {
    "auth_service": AuthService,
    "proxy_service": ProxyService,
    "storage": Storage,
    "retention": Retention,
}
_ENTRIES: dict[str, type] = {
    "users": UserSpec,
    "roles": RoleSpec,
    "trusted_clusters": TrustedCluster,
    "nodes": NodeSpec,
}


def config_keys() -> tuple[str, ...]:
    """Every key the file may hold, dotted: ``proxy_service.listen_addr``, and
    ``roles.*.logins`` for a key of each entry (the README is checked against it)."""
    keys = [f"{section}.{k}" for section, cls in _SECTIONS.items() for k in _keys(cls)]
    keys += [f"{section}.*.{k}" for section, cls in _ENTRIES.items() for k in _keys(cls)]
    return tuple(keys)


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


def parse_config(data: Any, source: str = "<config>") -> Config:
    try:
        top = _mapping(data)
        _only(top, (*_SECTIONS, *_ENTRIES))
        auth = _read(AuthService, top.get("auth_service"), "auth_service")
        proxy = _read(ProxyService, top.get("proxy_service"), "proxy_service")
        storage = _read(Storage, top.get("storage"), "storage")
        retention = _read(Retention, top.get("retention"), "retention")
        roles = _named(RoleSpec, top.get("roles"), "roles")
        users = _users(top["users"], roles) if "users" in top else None
        clusters = _named(TrustedCluster, top.get("trusted_clusters"), "trusted_clusters")
        _check_role_clusters(roles, clusters)
        nodes = _nodes(top.get("nodes"))
    except _Refused as refused:
        raise ConfigError(f"{source}: {refused.key}: {refused.message}") from None
    return Config(
        **_values(auth),
        **_values(proxy),
        users=users,
        roles=roles,
        trusted_clusters=clusters,
        nodes=nodes,
        storage=storage,
        retention=retention,
        source=Path(source) if source != "<config>" else None,
    )


# Reading a section or entry: its keys checked against the declaration, each
# value through its Form, then msgspec's conversion and validation.


class _Refused(Exception):
    """A value refused, at ``key`` below the key being read ('' for that key itself)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def within(self, key: str) -> _Refused:
        """The same refusal as seen from ``key``, the mapping or list holding it."""
        if not key or not self.key:
            return _Refused(self.message, key or self.key)
        sep = "" if self.key.startswith("[") else "."
        return _Refused(self.message, f"{key}{sep}{self.key}")


def _read(cls: type[T], value: Any, key: str, **given: Any) -> T:
    """``value`` (one section or entry of the file) as ``cls``; ``given`` holds
    what is not in the file (an entry's name)."""
    try:
        body = _mapping(value)
        allowed = _keys(cls)
        _only(body, allowed)
        forms = _forms(cls)
        values = dict(given)
        for name in allowed:
            if name in body:
                form = forms.get(name)
                values[name] = _at(form.read, body[name], name) if form else body[name]
        return _convert(cls, values)
    except _Refused as refused:
        raise refused.within(key) from None


def _named(cls: type[T], value: Any, key: str) -> dict[str, T]:
    """A section of named entries (``roles``, ``trusted_clusters``)."""
    return {
        name: _read(cls, body, f"{key}.{name}", name=name)
        for name, body in _at(_mapping, value, key).items()
    }


def _nodes(value: Any) -> dict[str, NodeSpec]:
    """The inventory, by lower-case name; a node's address is its name unless given."""
    nodes: dict[str, NodeSpec] = {}
    for name, spec in _at(_mapping, value, "nodes").items():
        key = f"nodes.{name}"
        body = {"addr": name, **_at(_mapping, spec, key)}
        nodes[name.lower()] = _read(NodeSpec, body, key, name=name)
    return nodes


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "name")


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls, include_extras=True)


def _forms(cls: type) -> dict[str, Form]:
    return {
        name: meta
        for name, hint in _hints(cls).items()
        for meta in getattr(hint, "__metadata__", ())
        if isinstance(meta, Form)
    }


def _convert(cls: type[T], values: dict[str, Any]) -> T:
    import msgspec

    try:
        return msgspec.convert(values, cls)
    except msgspec.ValidationError as exc:
        raise _refusal(cls, values, str(exc)) from None


def _refusal(cls: type, values: dict[str, Any], message: str) -> _Refused:
    """msgspec's refusal (``Expected `int` >= 1 - at `$.dial_attempts```) as the
    key and what its declaration allows; msgspec's own words if it says neither."""
    import msgspec

    missing = re.search(r"missing required field `(\w+)`", message)
    if missing:
        name = missing[1]
        metadata = getattr(_hints(cls)[name], "__metadata__", ())
        docs = [m.description for m in metadata if isinstance(m, msgspec.Meta) and m.description]
        return _Refused(f"required: {docs[0]}" if docs else "required", name)
    at = re.search(r" - at `\$\.(\w+)`$", message)
    if at is None or at[1] not in values:
        return _Refused(message)
    name = at[1]
    info = msgspec.inspect.type_info(_hints(cls)[name])
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):  # `int | None`: what the int allows
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    got = values[name]
    if isinstance(info, msgspec.inspect.BoolType):
        return _Refused(f"expected yes or no, got {got!r}", name)
    if isinstance(info, msgspec.inspect.LiteralType):  # in the declared order, not msgspec's
        hint = _hints(cls)[name]
        choices = get_args(hint.__origin__ if hasattr(hint, "__metadata__") else hint)
        return _Refused(f"expected one of {', '.join(choices)}; got {got!r}", name)
    if isinstance(info, msgspec.inspect.IntType):
        return _Refused(f"expected an integer from {info.ge} to {info.le}, got {got!r}", name)
    return _Refused(message.partition(" - at ")[0], name)


def _values(section: AuthService | ProxyService) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}


def _mapping(value: Any) -> dict[str, Any]:
    """A YAML mapping with string keys; nothing (an empty section) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Refused(f"expected a mapping, got {_kind(value)}")
    for k in value:
        if not isinstance(k, str):
            raise _Refused(f"keys must be strings, got {k!r}")
    return value


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for k in body:
        if k not in allowed:
            raise _Refused(f"unknown key; allowed: {', '.join(allowed)}", k)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# What refers across sections: a user's roles, a role's clusters.


def _users(value: Any, roles: Mapping[str, RoleSpec]) -> dict[str, UserSpec]:
    users: dict[str, UserSpec] = {}
    for name, spec in _at(_mapping, value, "users").items():
        key = f"users.{name}"
        body = _at(_mapping, spec, key)
        if "logins" in body and "roles" in body:
            # Either would be read as widening the other; a reviewer must not have to guess.
            raise _Refused(
                "give logins (every node, as before roles) or roles, not both: "
                "put the logins in a role",
                key,
            )
        # With roles, a user's logins are its roles' (Config.logins_for).
        given = {"logins": ()} if "roles" in body else {}
        user = _read(UserSpec, body, key, name=name, **given)
        for i, role in enumerate(user.roles):
            if role not in roles:
                known = ", ".join(sorted(roles)) or "none defined"
                raise _Refused(f"unknown role {role!r} (roles: {known})", f"{key}.roles[{i}]")
        users[name] = user
    return users


def _check_role_clusters(
    roles: Mapping[str, RoleSpec], clusters: Mapping[str, TrustedCluster]
) -> None:
    for role in roles.values():
        for i, cluster in enumerate(role.clusters):
            if cluster != "*" and cluster not in clusters:
                known = ", ".join(sorted(clusters)) or "none configured"
                raise _Refused(
                    f"unknown cluster {cluster!r} (trusted_clusters: {known})",
                    f"roles.{role.name}.clusters[{i}]",
                )


# The forms: what YAML holds, read into what a key's type says.


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Refused(f"expected a non-empty string, got {_kind(value)}")
    return value.strip()


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings; one string is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _Refused(f"expected a list of strings, got {_kind(value)}")
    return tuple(_at(_text, v, f"[{i}]") for i, v in enumerate(value))


def _at(read: Callable[[Any], T], value: Any, key: str) -> T:
    """``read(value)``, a refusal placed at ``key`` (an item or entry of what is read)."""
    try:
        return read(value)
    except _Refused as refused:
        raise refused.within(key) from None


def _duration(value: Any) -> float:
    expected = f"expected a duration like 30s or 2m, got {value!r}"
    if not isinstance(value, int | float | str):
        raise _Refused(expected)
    try:
        return parse_duration(value)
    except UsageError:
        raise _Refused(expected) from None


def _host_port(value: Any, default_port: int | None = None) -> HostPort:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f":{value}"
    text = _text(value)
    if text.startswith(":"):
        text = "0.0.0.0" + text
    try:
        return parse_host_port(text, default_port)
    except ValueError as exc:
        raise _Refused(f"{exc}; expected HOST:PORT, got {value!r}") from None


def _proxy_addr(value: Any) -> HostPort:
    return _host_port(value, 3023)


def _listen_addr(value: Any) -> HostPort:
    """Where a listener binds: always with its host, since a port alone
    (``3023``, ``:3023``) would quietly open it to every interface."""
    bare = str(value).strip() if isinstance(value, int | str) else ""
    port = bare.removeprefix(":")
    if not isinstance(value, bool) and port.isdigit():
        raise _Refused(
            f"a port alone would listen on every interface; write 127.0.0.1:{port} "
            f"(this machine only) or 0.0.0.0:{port} (reachable from other machines)"
        )
    return _host_port(value)


def _source_addresses(value: Any) -> tuple[str, ...]:
    """Addresses and CIDR blocks, as sshd reads a certificate's source-address."""
    return tuple(_at(_network, text, f"[{i}]") for i, text in enumerate(_strings(value)))


def _network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise _Refused(f"expected an address or CIDR block like 10.0.0.0/8, got {text!r}") from None


def _recording_mode(value: Any) -> Any:
    return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


def _recording_sync(value: Any) -> float | None:
    """``1s``, ``500ms``, ``0`` (every flush) or ``off`` (never); None is off."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None  # YAML 1.1 reads a bare `off` as false
    expected = f"expected a duration like 1s or 500ms, 0 (every flush) or off; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Refused(expected)
    if str(value).strip().lower() in ("0", "0.0", "0s", "0ms"):
        return 0.0
    try:
        seconds = parse_duration(value)
    except UsageError:
        raise _Refused(expected) from None
    if seconds > MAX_RECORDING_SYNC:
        raise _Refused(f"at most 30s (the kernel's own write-back); got {value!r}")
    return seconds


def _kept_for(value: Any) -> float | None:
    """How long retention keeps something: a duration of at least an hour; nothing
    (or no key) keeps it for good."""
    if value is None:
        return None
    expected = f"expected how long to keep them, like 90d or 52w; got {value!r}"
    if not isinstance(value, str) or value.strip().replace(".", "").isdigit():
        raise _Refused(expected)  # a bare number would be seconds
    try:
        seconds = parse_duration(value)
    except UsageError:
        raise _Refused(expected) from None
    if seconds < MIN_RETENTION:
        raise _Refused(f"at least 1h; got {value!r}")
    return seconds


def _events_uri(value: Any) -> str:
    uri = _text(value)
    try:
        index_scheme(uri)
    except StorageError as exc:
        raise _Refused(str(exc).removeprefix(f"{EVENTS_KEY}: ")) from None
    return uri


def _sessions_uri(value: Any) -> str:
    uri = _text(value)
    parts = urlsplit(uri)
    if parts.scheme.lower() == "s3":
        try:
            BucketAddress.parse(uri)
        except StorageError as exc:
            raise _Refused(str(exc).removeprefix(f"{SESSIONS_KEY}: ")) from None
        return uri
    if parts.scheme.lower() != "file":
        raise _Refused(
            f"{parts.scheme or 'that'}:// is not a place for recordings: expected "
            "s3://BUCKET/PREFIX?endpoint=URL&region=NAME, or file:// (the default)"
        )
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise _Refused(f"expected file:///ABSOLUTE/PATH, got {uri!r}")
    return uri


def _labels(value: Any) -> dict[str, str]:
    """A node's labels; YAML's numbers and booleans (``tier: 1``) read as strings."""
    return {k: _at(_text, str(v), k) for k, v in _mapping(value).items()}


def _label_choices(value: Any) -> dict[str, tuple[str, ...]]:
    """A role's ``node_labels``: each label's allowed values, one or a list."""
    labels: dict[str, tuple[str, ...]] = {}
    for label, allowed in _mapping(value).items():
        # YAML reads `tier: 1` or `debug: yes` as a number or a bool: labels are
        # strings, read as the nodes section reads them.
        if isinstance(allowed, int | float | bool):
            allowed = str(allowed)
        labels[label] = _at(_strings, allowed, label)
        if label == "*" and labels[label] != ("*",):
            raise _Refused("'*' takes '*' only: {'*': '*'} matches every node", label)
    return labels


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
