"""`auditor access` explains the roles; `auditor login` issues exactly the logins they allow."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent

CONFIG = """\
nodes:
  web1.example.com: {addr: 10.0.0.1, labels: {env: dev}}
  db1.example.com: {addr: 10.0.0.2, labels: {env: prod}}
trusted_clusters:
  leaf: {proxy_addr: 10.0.0.5:3023}
roles:
  dev: {logins: [root], node_labels: {env: dev}, nodes: ['*.dev.example.com']}
  ops: {logins: [ubuntu], node_labels: {env: prod}, clusters: [leaf]}
users:
  joe: {roles: [dev, ops]}
  ann: {logins: [root]}
  nil: {roles: [none]}
"""


def with_config(cli: AuditorCli, tmp_path: Path, text: str = CONFIG) -> AuditorCli:
    path = tmp_path / "auditor.yaml"
    path.write_text(text)
    cli.config = path
    return cli


def test_access_lists_each_node_with_its_logins_and_roles(cli: AuditorCli, tmp_path: Path) -> None:
    out = with_config(cli, tmp_path, CONFIG.replace("  nil: {roles: [none]}\n", "")).run(
        "access", "joe"
    )
    lines = out.stdout.splitlines()
    assert lines[0] == "joe: roles dev, ops; logins root, ubuntu"
    assert lines[1].split() == ["db1.example.com", "env=prod", "ubuntu", "(role", "ops)"]
    assert lines[2].split() == ["web1.example.com", "env=dev", "root", "(role", "dev)"]
    assert "outside the inventory, role dev: names matching *.dev.example.com as root" in lines
    assert "trusted clusters, role ops: leaf as ubuntu" in lines


def test_access_to_one_node_gives_each_login_its_verdict(cli: AuditorCli, tmp_path: Path) -> None:
    cfg = CONFIG.replace("  nil: {roles: [none]}\n", "")
    out = with_config(cli, tmp_path, cfg).run("access", "joe", "db1.example.com").stdout
    assert out.splitlines() == [
        "db1.example.com: in the inventory (env=prod)",
        "  root: denied: role dev: node_labels env=dev do not match db1.example.com (env=prod); "
        "role ops: its logins are ubuntu",
        "  ubuntu: allowed by role ops: node_labels env=prod match",
    ]
    out = cli.run("access", "joe", "x.dev.example.com").stdout
    assert "  root: allowed by role dev: nodes pattern *.dev.example.com matches" in out
    out = cli.run("access", "joe", "n1@leaf").stdout
    assert "  ubuntu: allowed by role ops: clusters lists leaf" in out
    out = cli.run("access", "ann", "anything.example.org").stdout
    assert "  root: allowed by users.ann.logins (every node)" in out


def test_access_mistakes_are_one_line(cli: AuditorCli, tmp_path: Path) -> None:
    cfg = CONFIG.replace("  nil: {roles: [none]}\n", "")
    with_config(cli, tmp_path, cfg)
    out = cli.run("access", "mallory", check=False)
    assert out.returncode != 0
    assert out.stderr == (
        f"auditor: unknown user 'mallory': not in the users section of {cli.config}\n"
    )
    out = cli.run("access", "joe", "n1@nowhere", check=False)
    assert (
        out.stderr
        == "auditor: unknown cluster 'nowhere' in 'n1@nowhere' (trusted clusters: leaf)\n"
    )
    with_config(cli, tmp_path)  # users.nil names a role that does not exist
    out = cli.run("access", "joe", check=False)
    assert out.stderr == (
        f"auditor: {cli.config}: users.nil.roles[0]: unknown role 'none' (roles: dev, ops)\n"
    )


def test_login_issues_the_union_of_the_roles_logins(
    cli: AuditorCli, agent: SshAgent, tmp_path: Path
) -> None:
    cli.run("ca", "init")
    with_config(cli, tmp_path, CONFIG.replace("  nil: {roles: [none]}\n", ""))
    cli.env.update(agent.env)
    out = cli.run("login", "--user=joe")
    assert "for logins root, ubuntu" in out.stdout
    [cert] = [line for line in agent.identities().splitlines() if "-cert-v01@" in line]
    shown = subprocess.run(
        ["ssh-keygen", "-L", "-f", "-"], input=cert, capture_output=True, text=True, check=True
    ).stdout
    principals = shown.split("Principals:")[1].split("Critical Options:")[0].split()
    assert principals == ["root", "ubuntu"]
