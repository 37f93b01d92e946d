"""Who may reach which node as which login: the ``users`` and ``roles`` sections.

One decision function for the proxy (before it dials, on every path and in
every recording mode), ``auditor access`` (which explains it) and
``auditor login`` (which issues the logins it allows). Headless and pure:
it reads a ``Config`` and nothing else, so a reload swaps the config and
every later decision follows it.

A user with roles reaches a node of the ``nodes:`` inventory when one of
its roles' ``node_labels`` matches the node's labels, a name outside the
inventory when it matches one of its roles' ``nodes`` patterns, and a
trusted cluster's node when the role lists the cluster (that cluster's
proxy decides which of its nodes). A user with ``logins`` alone (the form
before roles) reaches every node as those logins, as before.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from auditor.config import Config, NodeSpec, RoleSpec, UserSpec

ANY = "*"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    role: str | None  # the role that allows it; None for a refusal or a user without roles
    reason: str  # a refusal's one line for the client; an allowance's why
    detail: str = ""  # a refusal's why, role by role: for the index and `auditor access`


@dataclass(frozen=True)
class Target:
    """A node as a request names it: ``HOST`` or ``HOST`` in a trusted cluster."""

    host: str
    cluster: str | None = None

    def __str__(self) -> str:
        return f"{self.host}@{self.cluster}" if self.cluster else self.host


class AccessPolicy:
    def __init__(self, config: Config) -> None:
        self.config = config

    # What a user is
    def user(self, name: str) -> UserSpec | None:
        return None if self.config.users is None else self.config.users.get(name)

    def roles_of(self, name: str) -> tuple[str, ...]:
        spec = self.user(name)
        return spec.roles if spec else ()

    def node(self, host: str) -> NodeSpec | None:
        # DNS names are case-blind and may end in a dot ("db1.example.com." is
        # db1): an inventory node is decided by its labels under any such spelling.
        return self.config.nodes.get(host.lower().rstrip("."))

    # The decision
    def decide(self, user: str, login: str, target: Target) -> Decision:
        """May ``user`` reach ``target`` as ``login``? Made before the proxy dials."""
        if self.config.users is None:
            return Decision(True, None, "no users section: every certificate of the user CA")
        spec = self.config.users.get(user)
        if spec is None:
            return self._denied(user, login, target, f"{user} is not in the users section")
        if not spec.roles:
            if login in spec.logins:
                return Decision(True, None, f"users.{user}.logins (every node)")
            why = f"users.{user}.logins: {', '.join(spec.logins) or 'none'}"
            return self._denied(user, login, target, why, f"logins: {', '.join(spec.logins)}")
        whys: list[str] = []
        for name in spec.roles:
            role = self.config.roles[name]
            matched, why = self.role_reaches(role, target)
            if matched and login in role.logins:
                return Decision(True, name, f"role {name}: {why}")
            if matched:
                why = f"its logins are {', '.join(role.logins)}"
            whys.append(f"role {name}: {why}")
        return self._denied(user, login, target, "; ".join(whys), f"roles: {', '.join(spec.roles)}")

    def _denied(self, user: str, login: str, target: Target, why: str, held: str = "") -> Decision:
        # The client learns only what it asked and what it holds, not the inventory's labels.
        held = f" ({held})" if held else ""
        return Decision(False, None, f"{user} may not reach {target} as {login}{held}", why)

    def role_reaches(self, role: RoleSpec, target: Target) -> tuple[bool, str]:
        """Whether ``role`` covers ``target`` (logins aside), and why or why not."""
        if target.cluster is not None:
            if ANY in role.clusters or target.cluster in role.clusters:
                return True, f"clusters lists {target.cluster}"
            listed = ", ".join(role.clusters) or "none"
            return False, f"cluster {target.cluster} is not in its clusters ({listed})"
        node = self.node(target.host)
        if node is not None:
            wanted = format_labels(role.node_labels) or "none"
            if labels_match(role.node_labels, node.labels):
                return True, f"node_labels {wanted} match"
            has = format_labels(node.labels) or "no labels"
            return False, f"node_labels {wanted} do not match {target.host} ({has})"
        for pattern in role.nodes:
            if fnmatchcase(target.host.lower(), pattern.lower()):
                return True, f"nodes pattern {pattern} matches"
        listed = ", ".join(role.nodes) or "none"
        return False, f"{target.host} is not in the inventory nor matched by its nodes ({listed})"

    # What `auditor access` and `auditor login` show
    def logins(self, user: str) -> tuple[str, ...] | None:
        return self.config.logins_for(user)

    def explain(self, user: str, target: Target) -> Iterator[tuple[str, Decision]]:
        """Each login the user holds, allowed or denied on ``target`` and why."""
        for login in self.logins(user) or ():
            yield login, self.decide(user, login, target)

    def inventory(self, user: str) -> Iterator[tuple[NodeSpec, list[tuple[str, str | None]]]]:
        """Each inventory node with the logins the user reaches it as, and by which role."""
        spec = self.user(user)
        for key in sorted(self.config.nodes):
            node = self.config.nodes[key]
            if spec is None or not spec.roles:  # decide() says why for each login
                allowed = [
                    (login, d.role)
                    for login, d in self.explain(user, Target(node.name))
                    if d.allowed
                ]
            else:
                # As decide() would, without building a refusal's words for each login.
                by: dict[str, str | None] = {}
                for name in spec.roles:
                    role = self.config.roles[name]
                    if labels_match(role.node_labels, node.labels):
                        for login in role.logins:
                            by.setdefault(login, name)
                allowed = [(login, by[login]) for login in self.logins(user) or () if login in by]
            yield node, allowed


def labels_match(wanted: Mapping[str, tuple[str, ...]], labels: Mapping[str, str]) -> bool:
    """Every label the role lists has one of its values on the node (``*`` any value);
    ``{'*': '*'}`` matches every node, and a role with no node_labels none."""
    if not wanted:
        return False
    for key, values in wanted.items():
        if key == ANY:
            continue
        value = labels.get(key)
        if value is None or (ANY not in values and value not in values):
            return False
    return True


def format_labels(labels: Mapping[str, str] | Mapping[str, tuple[str, ...]]) -> str:
    parts = []
    for key, value in labels.items():
        shown = value if isinstance(value, str) else "|".join(value)
        parts.append(f"{key}={shown}")
    return ",".join(parts)
