"""The roles section as a security reviewer reads it, and the decision the proxy makes from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.access_policy import AccessPolicy, Target
from auditor.config import ConfigError, RoleSpec, load_config

ROLES = """
nodes:
  web1.example.com: {addr: 10.0.0.1, labels: {env: dev, team: web}}
  db1.example.com: {addr: 10.0.0.2, labels: {env: prod}}
  cache1: {}
  old.dev.example.com: {labels: {env: prod}}
trusted_clusters:
  leaf: {proxy_addr: 10.0.0.5:3023}
roles:
  dev:
    logins: [root]
    node_labels: {env: [dev, staging]}
    nodes: ['*.dev.example.com']
  ops:
    logins: [ubuntu, root]
    node_labels: {env: prod}
    clusters: [leaf]
  everything:
    logins: [admin]
    node_labels: {'*': '*'}
    nodes: ['*']
users:
  joe: {roles: [dev, ops]}
  ann: {logins: [root]}
  al: {roles: [everything]}
  dave: {roles: [dev]}
"""


def policy(tmp_path: Path, text: str = ROLES) -> AccessPolicy:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    return AccessPolicy(load_config(path))


def test_roles_parse_as_written(tmp_path: Path) -> None:
    config = policy(tmp_path).config
    assert config.roles["dev"] == RoleSpec(
        "dev", ("root",), {"env": ("dev", "staging")}, ("*.dev.example.com",), ()
    )
    assert config.roles["ops"].clusters == ("leaf",)
    assert config.users is not None and config.users["joe"].roles == ("dev", "ops")
    # The union of the roles' logins, once each: what `auditor login` issues.
    assert config.logins_for("joe") == ("root", "ubuntu")
    assert config.logins_for("ann") == ("root",)
    assert config.logins_for("nobody") == ()


@pytest.mark.parametrize(
    ("user", "login", "target", "role"),
    [
        ("joe", "root", Target("web1.example.com"), "dev"),  # by label
        ("joe", "root", Target("WEB1.example.com"), "dev"),  # names are not case-sensitive
        ("joe", "ubuntu", Target("db1.example.com"), "ops"),
        ("joe", "root", Target("db1.example.com"), "ops"),  # the second role allows it
        ("joe", "root", Target("x.dev.example.com"), "dev"),  # by pattern, outside
        ("joe", "ubuntu", Target("anything", "leaf"), "ops"),  # a trusted cluster
        ("al", "admin", Target("cache1"), "everything"),  # {'*': '*'}: a node without labels
        ("al", "admin", Target("10.1.2.3"), "everything"),  # nodes: ['*']
        ("ann", "root", Target("unlisted.example.org"), None),  # no roles: as before
        ("joe", "root", Target("n", "leaf"), "ops"),  # dev lists no clusters; ops has root
    ],
)
def test_allowed(tmp_path: Path, user: str, login: str, target: Target, role: str | None) -> None:
    decision = policy(tmp_path).decide(user, login, target)
    assert decision.allowed, decision
    assert decision.role == role


@pytest.mark.parametrize(
    ("user", "login", "target", "detail"),
    [
        (
            "joe",
            "ubuntu",
            Target("web1.example.com"),
            "role ops: node_labels env=prod do not match",
        ),
        ("joe", "root", Target("cache1"), "role dev: node_labels env=dev|staging do not match"),
        # In the inventory, so labels decide: a matching name pattern does not widen it.
        (
            "dave",
            "root",
            Target("old.dev.example.com"),
            "node_labels env=dev|staging do not match old.dev.example.com (env=prod)",
        ),
        ("joe", "root", Target("x.example.org"), "nor matched by its nodes (*.dev.example.com)"),
        ("joe", "ubuntu", Target("n", "other"), "cluster other is not in its clusters (leaf)"),
        ("ann", "ubuntu", Target("web1.example.com"), "users.ann.logins: root"),
        ("nobody", "root", Target("web1.example.com"), "nobody is not in the users section"),
    ],
)
def test_denied(tmp_path: Path, user: str, login: str, target: Target, detail: str) -> None:
    decision = policy(tmp_path).decide(user, login, target)
    assert not decision.allowed
    assert decision.role is None
    assert decision.reason.startswith(f"{user} may not reach {target} as {login}")
    assert detail in decision.detail


def test_the_client_is_told_the_request_and_roles_not_the_labels(tmp_path: Path) -> None:
    decision = policy(tmp_path).decide("joe", "ubuntu", Target("web1.example.com"))
    assert decision.reason == "joe may not reach web1.example.com as ubuntu (roles: dev, ops)"
    assert "env=" in decision.detail


def test_without_a_users_section_everything_is_allowed_as_before(tmp_path: Path) -> None:
    p = policy(tmp_path, "nodes:\n  a: {labels: {env: prod}}\n")
    assert p.decide("anyone", "root", Target("b.example.org")).allowed


def test_inventory_overview_lists_logins_and_roles(tmp_path: Path) -> None:
    rows = {node.name: allowed for node, allowed in policy(tmp_path).inventory("joe")}
    assert rows == {
        "cache1": [],
        "db1.example.com": [("root", "ops"), ("ubuntu", "ops")],
        "old.dev.example.com": [("root", "ops"), ("ubuntu", "ops")],
        "web1.example.com": [("root", "dev")],
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "roles: {dev: {logins: [root]}}\nusers: {joe: {roles: [dev, nosuch]}}\n",
            "users.joe.roles[1]: unknown role 'nosuch' (roles: dev)",
        ),
        ("users: {joe: {roles: [dev]}}\n", "users.joe.roles[0]: unknown role 'dev' (roles: none"),
        (
            "roles: {dev: {logins: [root]}}\nusers: {joe: {logins: [root], roles: [dev]}}\n",
            "users.joe: give logins (every node, as before roles) or roles, not both",
        ),
        ("roles: {dev: {node_labels: {env: prod}}}\n", "roles.dev.logins: required"),
        ("roles: {dev: {logins: [root], labels: {}}}\n", "roles.dev.labels: unknown key"),
        (
            "roles: {dev: {logins: [root], node_labels: {'*': prod}}}\n",
            "roles.dev.node_labels.*: '*' takes '*' only",
        ),
        (
            "roles: {dev: {logins: [root], clusters: [leaf]}}\n",
            "roles.dev.clusters[0]: unknown cluster 'leaf' (trusted_clusters: none configured)",
        ),
        ("roles: {dev: {logins: [root], nodes: {a: b}}}\n", "roles.dev.nodes: expected a list"),
    ],
)
def test_role_mistakes_are_one_line_naming_file_and_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_label_values_yaml_reads_as_numbers_or_booleans_are_strings(tmp_path: Path) -> None:
    p = policy(
        tmp_path,
        "nodes:\n  a: {labels: {tier: 1, debug: yes}}\n"
        "roles:\n  r: {logins: [x], node_labels: {tier: 1, debug: yes}}\n"
        "users:\n  u: {roles: [r]}\n",
    )
    assert p.decide("u", "x", Target("a")).allowed


def test_an_inventory_node_spelled_with_a_trailing_dot_is_decided_by_its_labels(
    tmp_path: Path,
) -> None:
    """``db1.example.com.`` is the same host in DNS: a role whose patterns reach
    names outside the inventory must not reach the prod node that way."""
    p = policy(
        tmp_path,
        "nodes:\n  db1.example.com: {labels: {env: prod}}\n"
        "roles:\n  lab: {logins: [root], node_labels: {env: dev}, nodes: ['*']}\n"
        "users:\n  joe: {roles: [lab]}\n",
    )
    assert p.decide("joe", "root", Target("lab7.example.org")).allowed
    for spelling in ("db1.example.com", "DB1.Example.COM.", "db1.example.com."):
        decision = p.decide("joe", "root", Target(spelling))
        assert not decision.allowed, spelling
        assert "node_labels env=dev do not match" in decision.detail
