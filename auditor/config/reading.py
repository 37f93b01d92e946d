"""Reading the file's parsed YAML into a ``Config``: each section's keys checked
against its declaration, each value through its form, then msgspec's
conversion and validation, its refusals put back into one line naming the
key and what it allows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import fields
from functools import cache
from pathlib import Path
from typing import Any, TypeVar, get_args, get_type_hints

from auditor.config.sections import (
    ENTRIES,
    SECTIONS,
    AuthService,
    Config,
    NodeSpec,
    ProxyService,
    Retention,
    RoleSpec,
    Storage,
    TrustedCluster,
    UserSpec,
)
from auditor.config.values import Form, Refused, at, mapping
from auditor.errors import AuditorError

T = TypeVar("T")


class ConfigError(AuditorError):
    pass


def _only(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for k in body:
        if k not in allowed:
            raise Refused(f"unknown key; allowed: {', '.join(allowed)}", k)


def _read(cls: type[T], value: Any, key: str, **given: Any) -> T:
    """``value`` (one section or entry of the file) as ``cls``; ``given`` holds
    what is not in the file (an entry's name)."""
    try:
        body = mapping(value)
        allowed = _keys(cls)
        _only(body, allowed)
        forms = _forms(cls)
        values = dict(given)
        for name in allowed:
            if name in body:
                form = forms.get(name)
                values[name] = at(form.read, body[name], name) if form else body[name]
        return _convert(cls, values)
    except Refused as refused:
        raise refused.within(key) from None


def _named(cls: type[T], value: Any, key: str) -> dict[str, T]:
    """A section of named entries (``roles``, ``trusted_clusters``)."""
    return {
        name: _read(cls, body, f"{key}.{name}", name=name)
        for name, body in at(mapping, value, key).items()
    }


def _nodes(value: Any) -> dict[str, NodeSpec]:
    """The inventory, by lower-case name; a node's address is its name unless given."""
    nodes: dict[str, NodeSpec] = {}
    for name, spec in at(mapping, value, "nodes").items():
        key = f"nodes.{name}"
        body = {"addr": name, **at(mapping, spec, key)}
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


def _refusal(cls: type, values: dict[str, Any], message: str) -> Refused:
    """msgspec's refusal (``Expected `int` >= 1 - at `$.dial_attempts```) as the
    key and what its declaration allows; msgspec's own words if it says neither."""
    import msgspec

    missing = re.search(r"missing required field `(\w+)`", message)
    if missing:
        name = missing[1]
        metadata = getattr(_hints(cls)[name], "__metadata__", ())
        docs = [m.description for m in metadata if isinstance(m, msgspec.Meta) and m.description]
        return Refused(f"required: {docs[0]}" if docs else "required", name)
    at = re.search(r" - at `\$\.(\w+)`$", message)
    if at is None or at[1] not in values:
        return Refused(message)
    name = at[1]
    info = msgspec.inspect.type_info(_hints(cls)[name])
    if isinstance(info, msgspec.inspect.Metadata):
        info = info.type
    if isinstance(info, msgspec.inspect.UnionType):  # `int | None`: what the int allows
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    got = values[name]
    if isinstance(info, msgspec.inspect.BoolType):
        return Refused(f"expected yes or no, got {got!r}", name)
    if isinstance(info, msgspec.inspect.LiteralType):  # in the declared order, not msgspec's
        hint = _hints(cls)[name]
        choices = get_args(hint.__origin__ if hasattr(hint, "__metadata__") else hint)
        return Refused(f"expected one of {', '.join(choices)}; got {got!r}", name)
    if isinstance(info, msgspec.inspect.IntType):
        return Refused(f"expected an integer from {info.ge} to {info.le}, got {got!r}", name)
    return Refused(message.partition(" - at ")[0], name)


def _values(section: AuthService | ProxyService) -> dict[str, Any]:
    return {f.name: getattr(section, f.name) for f in fields(section)}


# What refers across sections: a user's roles, a role's clusters.


def _users(value: Any, roles: Mapping[str, RoleSpec]) -> dict[str, UserSpec]:
    users: dict[str, UserSpec] = {}
    for name, spec in at(mapping, value, "users").items():
        key = f"users.{name}"
        body = at(mapping, spec, key)
        if "logins" in body and "roles" in body:
            # Either would be read as widening the other; a reviewer must not have to guess.
            raise Refused(
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
                raise Refused(f"unknown role {role!r} (roles: {known})", f"{key}.roles[{i}]")
        users[name] = user
    return users


def _check_role_clusters(
    roles: Mapping[str, RoleSpec], clusters: Mapping[str, TrustedCluster]
) -> None:
    for role in roles.values():
        for i, cluster in enumerate(role.clusters):
            if cluster != "*" and cluster not in clusters:
                known = ", ".join(sorted(clusters)) or "none configured"
                raise Refused(
                    f"unknown cluster {cluster!r} (trusted_clusters: {known})",
                    f"roles.{role.name}.clusters[{i}]",
                )


def config_keys() -> tuple[str, ...]:
    """Every key the file may hold, dotted: ``proxy_service.listen_addr``, and
    ``roles.*.logins`` for a key of each entry (the README is checked against it)."""
    keys = [f"{section}.{k}" for section, cls in SECTIONS.items() for k in _keys(cls)]
    keys += [f"{section}.*.{k}" for section, cls in ENTRIES.items() for k in _keys(cls)]
    return tuple(keys)


def parse_config(data: Any, source: str = "<config>") -> Config:
    try:
        top = mapping(data)
        _only(top, (*SECTIONS, *ENTRIES))
        auth = _read(AuthService, top.get("auth_service"), "auth_service")
        proxy = _read(ProxyService, top.get("proxy_service"), "proxy_service")
        storage = _read(Storage, top.get("storage"), "storage")
        retention = _read(Retention, top.get("retention"), "retention")
        roles = _named(RoleSpec, top.get("roles"), "roles")
        users = _users(top["users"], roles) if "users" in top else None
        clusters = _named(TrustedCluster, top.get("trusted_clusters"), "trusted_clusters")
        _check_role_clusters(roles, clusters)
        nodes = _nodes(top.get("nodes"))
    except Refused as refused:
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
