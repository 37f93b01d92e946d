"""A public-key *query* (no signature) is not a login: the roles' verdict it
led to must not carry over to the certificate that then signs.

SSH lets a client ask whether a key would do before it signs with it, and a
user certificate is public: anyone who has seen one can ask with it. The
proxy decides access when it checks a certificate, query or not, so what it
decided for one user must stay that user's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import NODE
from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.proxy.conftest import StartProxy
from tests.proxy.test_access import Trap, trap  # noqa: F401 (the fixture)
from tests.proxy.test_one_hop import route_one_hop

ME = login_name()

CONFIG = f"""\
nodes:
  {NODE}: {{addr: 127.0.0.1, labels: {{env: dev}}}}
  db1.example.com: {{addr: 127.0.0.1, labels: {{env: prod}}}}
roles:
  dev: {{logins: [{ME}], node_labels: {{env: dev}}}}
  ops: {{logins: [{ME}], node_labels: {{env: prod}}}}
users:
  alice: {{roles: [dev, ops]}}
  mallory: {{roles: [dev]}}
"""


def test_a_query_with_another_users_certificate_does_not_open_her_nodes(
    ca: AuditorCli,
    start_proxy: StartProxy,
    ssh_client: SshClient,
    tmp_path: Path,
    trap: Trap,  # noqa: F811
) -> None:
    issuing = tmp_path / "issuing.yaml"
    issuing.write_text(CONFIG)
    ca.config = issuing
    keys = tmp_path / "keys"
    keys.mkdir()
    # Alice's certificate, its public part alone (what anyone may have seen).
    (tmp_path / "alice").mkdir()
    alices = SshAgent.start(tmp_path / "alice")
    try:
        ca.env.update(alices.env)
        ca.run("login", "--user=alice")
        listed = subprocess.run(
            ["ssh-add", "-L"], env={**ca.env, **alices.env}, capture_output=True, check=True
        ).stdout.decode()
    finally:
        alices.stop()
    [cert] = [line for line in listed.splitlines() if "-cert-v01@openssh.com" in line]
    # Beside it a key of mallory's own: ssh offers a certificate file only with a
    # private key file, and asks with the certificate before it signs.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "alice")], check=True
    )
    (keys / "alice-cert.pub").write_text(cert + "\n")
    # Mallory's own key and certificate, as `auditor login --user=mallory` issues them.
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "mallory")], check=True
    )
    subprocess.run(
        [
            "ssh-keygen", "-q", "-s", str(ca.data_dir / "ca" / "user_ca"),
            "-I", "auditor:user:mallory", "-n", ME, "-V", "-5m:+1h", str(keys / "mallory.pub"),
        ],
        check=True,
    )  # fmt: skip
    proxy = start_proxy(CONFIG)
    route_one_hop(proxy, ssh_client, agent=False)
    # ssh asks with alice's certificate first (PK_OK: its key is not there to
    # sign), then logs in with mallory's: her roles do not reach env=prod.
    out = ssh_client.run(
        "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes",
        "-i", str(keys / "alice"), "-i", str(keys / "mallory"),
        "-p", str(trap.port), f"{ME}@db1.example.com", "true",
    )  # fmt: skip
    err = out.stderr.decode()
    assert out.returncode == 255, err
    assert f"auditor: mallory may not reach db1.example.com as {ME}" in err, err
    assert trap.untouched(), err
