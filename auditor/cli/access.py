"""``auditor access USER [NODE]``: what a user may reach, and which role allows or denies it.

The same decision the proxy makes before it dials (``auditor/access_policy.py``),
read from the config this command is given: a security reviewer's view of
the ``users`` and ``roles`` sections.
"""

from __future__ import annotations

from typing import Any

from auditor.access_policy import AccessPolicy, Target, format_labels
from auditor.cli.context import Context, common_options
from auditor.errors import AuditorError


def register(sub: Any) -> None:
    p = sub.add_parser(
        "access",
        help="what a user may reach as which login, and the role that allows it",
        parents=[common_options()],
    )
    p.add_argument("user", metavar="USER")
    p.add_argument(
        "node",
        metavar="NODE",
        nargs="?",
        help="one node (HOST or HOST@CLUSTER): each login's verdict",
    )
    p.set_defaults(handler=cmd_access)


def cmd_access(ctx: Context) -> int:
    config = ctx.config
    policy = AccessPolicy(config)
    user: str = ctx.args.user
    where = config.source or "the config"
    if config.users is None:
        print(f"{where} has no users section: every certificate of the user CA reaches every")
        print("node (inventory or DNS) as the logins it was issued for")
        return 0
    spec = policy.user(user)
    if spec is None:
        raise AuditorError(f"unknown user {user!r}: not in the users section of {where}")
    if ctx.args.node:
        _one_node(policy, user, _target(ctx.args.node, config.trusted_clusters))
    else:
        _overview(policy, user)
    return 0


def _target(text: str, clusters: Any) -> Target:
    host, at, cluster = text.rpartition("@")
    if not at:
        return Target(text)
    if cluster not in clusters:
        known = ", ".join(sorted(clusters)) or "none configured"
        raise AuditorError(f"unknown cluster {cluster!r} in {text!r} (trusted clusters: {known})")
    return Target(host, cluster)


def _overview(policy: AccessPolicy, user: str) -> None:
    spec = policy.user(user)
    assert spec is not None
    logins = ", ".join(policy.logins(user) or ()) or "none"
    if not spec.roles:
        print(f"{user}: no roles; logins {logins} on every node (users.{user}.logins),")
        print("names outside the inventory included (through DNS)")
        return
    print(f"{user}: roles {', '.join(spec.roles)}; logins {logins}")
    nodes = list(policy.inventory(user))
    width = max((len(node.name) for node, _ in nodes), default=0)
    labels = [format_labels(node.labels) or "(no labels)" for node, _ in nodes]
    label_width = max(map(len, labels), default=0)
    for (node, allowed), shown in zip(nodes, labels, strict=True):
        reach = ", ".join(f"{login} (role {role})" for login, role in allowed) or "-"
        print(f"  {node.name:<{width}}  {shown:<{label_width}}  {reach}")
    for name in spec.roles:
        role = policy.config.roles[name]
        if role.nodes:
            patterns = ", ".join(role.nodes)
            print(f"outside the inventory, role {name}: names matching {patterns} as {_as(role)}")
        if role.clusters:
            print(f"trusted clusters, role {name}: {', '.join(role.clusters)} as {_as(role)}")


def _as(role: Any) -> str:
    return ", ".join(role.logins) or "no login"


def _one_node(policy: AccessPolicy, user: str, target: Target) -> None:
    node = policy.node(target.host) if target.cluster is None else None
    if target.cluster is not None:
        place = f"a node of trusted cluster {target.cluster} (its proxy decides which)"
    elif node is not None:
        place = f"in the inventory ({format_labels(node.labels) or 'no labels'})"
    else:
        place = "not in the inventory"
    print(f"{target}: {place}")
    verdicts = list(policy.explain(user, target))
    if not verdicts:
        print(f"  {user} holds no logins")
    for login, decision in verdicts:
        if decision.allowed:
            print(f"  {login}: allowed by {decision.reason}")
        else:
            print(f"  {login}: denied: {decision.detail}")
