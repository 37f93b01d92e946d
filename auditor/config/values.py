"""How a key's YAML value becomes its value: the forms the declaration names.

Each reader takes what YAML parsed and returns the value, or raises
``Refused`` saying what is allowed (the key is added by whoever reads the
section); msgspec then checks the result against the key's declared type
(``auditor.config.sections``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from auditor.durations import parse_duration
from auditor.errors import UsageError
from auditor.storage import EVENTS_KEY, SESSIONS_KEY, BucketAddress, StorageError, index_scheme

if TYPE_CHECKING:
    import msgspec

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

    ``read`` takes what YAML parsed and returns the value, or raises ``Refused``
    saying what is allowed; msgspec then checks the result against the type.
    """

    read: Callable[[Any], Any]


def meta(**constraints: Any) -> msgspec.Meta:
    """``msgspec.Meta``, made when the annotations are first read (at the first
    parse), so that importing this module does not import msgspec: every command
    imports it, and one run without a config file never needs msgspec."""
    import msgspec

    return msgspec.Meta(**constraints)


class Refused(Exception):
    """A value refused, at ``key`` below the key being read ('' for that key itself)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.key = key

    def within(self, key: str) -> Refused:
        """The same refusal as seen from ``key``, the mapping or list holding it."""
        if not key or not self.key:
            return Refused(self.message, key or self.key)
        sep = "" if self.key.startswith("[") else "."
        return Refused(self.message, f"{key}{sep}{self.key}")


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


def mapping(value: Any) -> dict[str, Any]:
    """A YAML mapping with string keys; nothing (an empty section) is an empty one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refused(f"expected a mapping, got {kind(value)}")
    for k in value:
        if not isinstance(k, str):
            raise Refused(f"keys must be strings, got {k!r}")
    return value


def kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# The forms: what YAML holds, read into what a key's type says.


def string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"expected a non-empty string, got {kind(value)}")
    return value.strip()


def strings(value: Any) -> tuple[str, ...]:
    """A list of strings; one string is a list of one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise Refused(f"expected a list of strings, got {kind(value)}")
    return tuple(at(string, v, f"[{i}]") for i, v in enumerate(value))


def at(read: Callable[[Any], T], value: Any, key: str) -> T:
    """``read(value)``, a refusal placed at ``key`` (an item or entry of what is read)."""
    try:
        return read(value)
    except Refused as refused:
        raise refused.within(key) from None


def duration(value: Any) -> float:
    expected = f"expected a duration like 30s or 2m, got {value!r}"
    if not isinstance(value, int | float | str):
        raise Refused(expected)
    try:
        return parse_duration(value)
    except UsageError:
        raise Refused(expected) from None


def host_port(value: Any, default_port: int | None = None) -> HostPort:
    if isinstance(value, int) and not isinstance(value, bool):
        value = f":{value}"
    addr = string(value)
    if addr.startswith(":"):
        addr = "0.0.0.0" + addr
    try:
        return parse_host_port(addr, default_port)
    except ValueError as exc:
        raise Refused(f"{exc}; expected HOST:PORT, got {value!r}") from None


def proxy_addr(value: Any) -> HostPort:
    return host_port(value, 3023)


def listen_addr(value: Any) -> HostPort:
    """Where a listener binds: always with its host, since a port alone
    (``3023``, ``:3023``) would quietly open it to every interface."""
    bare = str(value).strip() if isinstance(value, int | str) else ""
    port = bare.removeprefix(":")
    if not isinstance(value, bool) and port.isdigit():
        raise Refused(
            f"a port alone would listen on every interface; write 127.0.0.1:{port} "
            f"(this machine only) or 0.0.0.0:{port} (reachable from other machines)"
        )
    return host_port(value)


def source_addresses(value: Any) -> tuple[str, ...]:
    """Addresses and CIDR blocks, as sshd reads a certificate's source-address."""
    return tuple(at(network, text, f"[{i}]") for i, text in enumerate(strings(value)))


def network(text: str) -> str:
    try:
        return str(ipaddress.ip_network(text, strict=False))
    except ValueError:
        raise Refused(f"expected an address or CIDR block like 10.0.0.0/8, got {text!r}") from None


def recording_mode(value: Any) -> Any:
    return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


def recording_sync(value: Any) -> float | None:
    """``1s``, ``500ms``, ``0`` (every flush) or ``off`` (never); None is off."""
    if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
        return None  # YAML 1.1 reads a bare `off` as false
    expected = f"expected a duration like 1s or 500ms, 0 (every flush) or off; got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise Refused(expected)
    if str(value).strip().lower() in ("0", "0.0", "0s", "0ms"):
        return 0.0
    try:
        seconds = parse_duration(value)
    except UsageError:
        raise Refused(expected) from None
    if seconds > MAX_RECORDING_SYNC:
        raise Refused(f"at most 30s (the kernel's own write-back); got {value!r}")
    return seconds


def kept_for(value: Any) -> float | None:
    """How long retention keeps something: a duration of at least an hour; nothing
    (or no key) keeps it for good."""
    if value is None:
        return None
    expected = f"expected how long to keep them, like 90d or 52w; got {value!r}"
    if not isinstance(value, str) or value.strip().replace(".", "").isdigit():
        raise Refused(expected)  # a bare number would be seconds
    try:
        seconds = parse_duration(value)
    except UsageError:
        raise Refused(expected) from None
    if seconds < MIN_RETENTION:
        raise Refused(f"at least 1h; got {value!r}")
    return seconds


def events_uri(value: Any) -> str:
    uri = string(value)
    try:
        index_scheme(uri)
    except StorageError as exc:
        raise Refused(str(exc).removeprefix(f"{EVENTS_KEY}: ")) from None
    return uri


def sessions_uri(value: Any) -> str:
    uri = string(value)
    parts = urlsplit(uri)
    if parts.scheme.lower() == "s3":
        try:
            BucketAddress.parse(uri)
        except StorageError as exc:
            raise Refused(str(exc).removeprefix(f"{SESSIONS_KEY}: ")) from None
        return uri
    if parts.scheme.lower() != "file":
        raise Refused(
            f"{parts.scheme or 'that'}:// is not a place for recordings: expected "
            "s3://BUCKET/PREFIX?endpoint=URL&region=NAME, or file:// (the default)"
        )
    if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
        raise Refused(f"expected file:///ABSOLUTE/PATH, got {uri!r}")
    return uri


def labels(value: Any) -> dict[str, str]:
    """A node's labels; YAML's numbers and booleans (``tier: 1``) read as strings."""
    return {k: at(string, str(v), k) for k, v in mapping(value).items()}


def label_choices(value: Any) -> dict[str, tuple[str, ...]]:
    """A role's ``node_labels``: each label's allowed values, one or a list."""
    labels: dict[str, tuple[str, ...]] = {}
    for label, allowed in mapping(value).items():
        # YAML reads `tier: 1` or `debug: yes` as a number or a bool: labels are
        # strings, read as the nodes section reads them.
        if isinstance(allowed, int | float | bool):
            allowed = str(allowed)
        labels[label] = at(strings, allowed, label)
        if label == "*" and labels[label] != ("*",):
            raise Refused("'*' takes '*' only: {'*': '*'} matches every node", label)
    return labels
