"""`auditor ca ...`, `login` and `config ssh` as a user runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import asyncssh
import pytest

from tests.harness.auditor_cli import AuditorCli
from tests.harness.openssh import SshAgent, require


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_ca_init_creates_private_keys_and_never_replaces_them(cli: AuditorCli) -> None:
    first = cli.run("ca", "init").stdout
    assert "user CA created" in first and "host CA created" in first
    assert mode(cli.data_dir) == 0o700
    assert mode(cli.data_dir / "ca") == 0o700
    for name in ("user_ca", "host_ca"):
        assert mode(cli.data_dir / "ca" / name) == 0o600
    again = cli.run("ca", "init").stdout
    assert "already exists" in again
    assert first.split(": ")[1].split()[0] in again  # same fingerprint: not replaced


def test_data_dir_resolution_flag_then_env_then_xdg(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDITOR_", "XDG_"))}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    run = lambda *a, **e: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "auditor", *a], env={**env, **e}, capture_output=True, text=True
    )
    assert run("ca", "init").returncode == 0
    assert (tmp_path / "xdg" / "auditor" / "ca" / "user_ca").exists()
    assert run("ca", "init", AUDITOR_HOME=str(tmp_path / "env")).returncode == 0
    assert (tmp_path / "env" / "ca" / "host_ca").exists()
    flag = tmp_path / "flag"
    assert (
        run("--data-dir", str(flag), "ca", "init", AUDITOR_HOME=str(tmp_path / "e2")).returncode
        == 0
    )
    assert (flag / "ca").is_dir() and not (tmp_path / "e2").exists()
    flag2 = tmp_path / "flag2"  # accepted after the command too
    assert run("ca", "init", "--data-dir", str(flag2)).returncode == 0
    assert (flag2 / "ca").is_dir()


def test_export_lines_match_the_reference(ca: AuditorCli) -> None:
    user = ca.run("ca", "export", "--type=user").stdout.strip()
    host = ca.run("ca", "export", "--type=host").stdout.strip()
    assert user.startswith("cert-authority ssh-ed25519 ")
    assert host.startswith("@cert-authority *.example.com,[*.example.com]:* ssh-ed25519 ")
    pub = (ca.data_dir / "ca" / "user_ca.pub").read_text().split()[1]
    assert user.split()[2] == pub


def test_sign_writes_the_files_sshd_config_names(ca: AuditorCli, tmp_path: Path) -> None:
    out = tmp_path / "etc-ssh"
    out.mkdir()
    res = ca.run("ca", "sign", "--host=node.example.com", "--format=openssh", "--out", str(out))
    key, cert = out / "node.example.com", out / "node.example.com-cert.pub"
    assert f"HostKey {key}" in res.stdout and f"HostCertificate {cert}" in res.stdout
    assert mode(key) == 0o600
    info = subprocess.run(
        [require("ssh-keygen"), "-L", "-f", str(cert)], capture_output=True, text=True, check=True
    ).stdout
    assert "host certificate" in info
    assert "node.example.com" in info.split("Principals:")[1]
    host_ca = (ca.data_dir / "ca" / "host_ca.pub").read_text().split()[1]
    fp = asyncssh.import_public_key(f"ssh-ed25519 {host_ca}").get_fingerprint()
    assert fp in info
    # The key and certificate belong together.
    loaded = asyncssh.read_certificate(cert)
    assert loaded.key.public_data == asyncssh.read_private_key(key).public_data


def test_sign_ttl_is_applied(ca: AuditorCli, tmp_path: Path) -> None:
    ca.run(
        "ca", "sign", "--host=n.example.com", "--format=openssh", "--out", str(tmp_path), "--ttl=1h"
    )
    info = subprocess.run(
        [require("ssh-keygen"), "-L", "-f", str(tmp_path / "n.example.com-cert.pub")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    valid = next(line for line in info.splitlines() if "Valid:" in line).split()
    start, end = (datetime.fromisoformat(valid[i]) for i in (2, 4))
    # One hour, plus the minute of clock skew allowed before now.
    assert (end - start).total_seconds() == 3600 + 60


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ca", "export", "--type=user"], "certificate authority not initialised"),
        (["ca", "sign", "--host=n", "--format=openssh"], "certificate authority not initialised"),
        (["login", "--user=joe"], "certificate authority not initialised"),
    ],
)
def test_commands_before_ca_init_say_so(cli: AuditorCli, args: list[str], message: str) -> None:
    res = cli.run(*args, check=False)
    assert res.returncode != 0
    assert message in res.stderr and "auditor ca init" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_sign_to_an_unwritable_place_is_one_line(ca: AuditorCli, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    for target in (a_file, tmp_path / "missing" / "dir"):
        res = ca.run(
            "ca", "sign", "--host=n", "--format=openssh", "--out", str(target), check=False
        )
        assert res.returncode == 1
        assert res.stderr.startswith(f"auditor: cannot write to {target}")
        assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["ca", "sign", "--host=n", "--format=pem"], "invalid choice: 'pem'"),
        (
            ["ca", "sign", "--host=n", "--format=openssh", "--ttl=soon"],
            "--ttl: expected a duration",
        ),
        (["ca", "export", "--type=root"], "invalid choice: 'root'"),
        (["sesions"], "invalid choice: 'sesions'"),
        (["ca", "init", "--bogus"], "unrecognized arguments: --bogus"),
        (["login"], "the following arguments are required: --user"),
    ],
)
def test_bad_flags_are_one_line(ca: AuditorCli, args: list[str], fragment: str) -> None:
    res = ca.run(*args, check=False)
    assert res.returncode == 2
    assert fragment in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_login_puts_certificate_with_comment_and_principals_into_the_agent(
    ca: AuditorCli, agent: SshAgent, tmp_path: Path
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("users:\n  joe: {logins: [root, joe]}\n")
    ca.env.update(agent.env)
    ca.config = config
    ca.run("login", "--user=joe")
    ca.run("login", "--user=joe")  # again: replaces, does not pile up
    lines = [line for line in agent.identities().splitlines() if "cert-v01" in line]
    assert len(lines) == 1 and lines[0].endswith(" auditor:joe")
    cert = asyncssh.import_certificate(lines[0])
    assert cert.principals == ["root", "joe"]
    info = subprocess.run(
        ["ssh-keygen", "-L", "-f", "-"], input=lines[0], capture_output=True, text=True
    ).stdout
    assert "permit-agent-forwarding" in info and "permit-pty" in info


def test_login_refuses_unknown_user_and_missing_agent(ca: AuditorCli, tmp_path: Path) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text("users:\n  joe: {logins: [root]}\n")
    ca.config = config
    ca.env["SSH_AUTH_SOCK"] = ""
    res = ca.run("login", "--user=mallory", check=False)
    assert res.returncode == 1 and "unknown user 'mallory'" in res.stderr
    res = ca.run("login", "--user=joe", check=False)
    assert res.returncode == 1 and "no ssh-agent running" in res.stderr
    ca.env["SSH_AUTH_SOCK"] = str(tmp_path / "no-such.sock")
    res = ca.run("login", "--user=joe", check=False)
    assert res.returncode == 1 and "cannot reach the ssh-agent" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_config_ssh_block_routes_nodes_through_the_proxy(ca: AuditorCli, tmp_path: Path) -> None:
    config = tmp_path / "auditor.yaml"
    settings = (
        "proxy_service: {listen_addr: '127.0.0.1:4023'}\n"
        "trusted_clusters: {remote-cluster: {proxy_addr: '127.0.0.2:3023'}}\n"
    )
    # The reference's form: the proxy logs in to nodes with the forwarded agent.
    config.write_text(
        "auth_service: {cluster_name: work.example.com, upstream_auth: agent}\n" + settings
    )
    ca.config = config
    block = ca.run("config", "ssh", "--nested").stdout
    assert "# upstream_auth: agent:" in block
    ssh_config = tmp_path / "ssh_config"
    ssh_config.write_text(block)

    def resolved(host: str) -> dict[str, str]:
        out = subprocess.run(
            [require("ssh"), "-F", str(ssh_config), "-G", f"root@{host}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return dict(line.split(" ", 1) for line in out.splitlines() if " " in line)

    node = resolved("db.work.example.com")
    assert node["proxycommand"] == (
        "ssh -o 'ForwardAgent yes' -p 4023 %r@proxy.work.example.com -s proxy:%h:%p"
    )
    assert node["forwardagent"] == "yes" and node["hostname"] == "db.work.example.com"
    leaf = resolved("db.remote-cluster.work.example.com")
    assert leaf["proxycommand"].endswith("-s proxy:%h:%p@remote-cluster")
    proxy = resolved("proxy.work.example.com")
    assert "proxycommand" not in proxy
    assert proxy["hostname"] == "127.0.0.1" and proxy["port"] == "4023"
    assert proxy["hostkeyalias"] == "proxy.work.example.com"

    # The default: one hop, the socket handed to ssh.
    ssh_config.write_text(ca.run("config", "ssh").stdout)
    node = resolved("db.work.example.com")
    assert node["proxycommand"].endswith(" connect --proxy 127.0.0.1:4023 %h:%p")
    assert node["proxyusefdpass"] == "yes" and node["forwardagent"] == "yes"
    assert resolved("db.remote-cluster.work.example.com")["proxycommand"].endswith(
        " connect --proxy 127.0.0.1:4023 %h:%p@remote-cluster"
    )
    assert "proxycommand" not in resolved("proxy.work.example.com")

    # The default, upstream_auth: certificate: no agent forwarded on either form.
    config.write_text("auth_service: {cluster_name: work.example.com}\n" + settings)
    block = ca.run("config", "ssh").stdout
    assert "# upstream_auth: certificate:" in block and "ForwardAgent" not in block
    ssh_config.write_text(block)
    node = resolved("db.work.example.com")
    assert node["forwardagent"] == "no" and node["proxyusefdpass"] == "yes"
    ssh_config.write_text(ca.run("config", "ssh", "--nested").stdout)
    node = resolved("db.work.example.com")
    assert node["forwardagent"] == "no"
    assert node["proxycommand"] == "ssh -p 4023 %r@proxy.work.example.com -s proxy:%h:%p"
    assert resolved("proxy.work.example.com")["forwardagent"] == "no"


def test_a_second_proxy_gets_the_same_cas_through_a_private_bundle(
    ca: AuditorCli, tmp_path: Path
) -> None:
    bundle = tmp_path / "cas.json"
    out = ca.run("ca", "export", "--private", "--out", str(bundle)).stdout
    assert "auditor ca import" in out
    assert mode(bundle) == 0o600
    second = AuditorCli(tmp_path / "proxy-b")
    imported = second.run("ca", "import", str(bundle)).stdout
    assert "user CA imported" in imported and "host CA imported" in imported
    for ca_type in ("user", "host"):
        line = f"--type={ca_type}"
        assert second.run("ca", "export", line).stdout == ca.run("ca", "export", line).stdout
        assert mode(second.data_dir / "ca" / f"{ca_type}_ca") == 0o600
    assert mode(second.data_dir / "ca") == 0o700
    assert "already here" in second.run("ca", "import", str(bundle)).stdout  # again: no change
    # Certificates minted on the second proxy are trusted through the first's line.
    host_line = ca.run("ca", "export", "--type=host").stdout.split()[3]
    second.run("ca", "sign", "--host=node.example.com", "--format=openssh", "--out", str(tmp_path))
    cert = asyncssh.read_certificate(tmp_path / "node.example.com-cert.pub")
    assert cert.signing_key.export_public_key().split()[1].decode() == host_line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--private"], "--private needs --out FILE (private keys never go to a terminal)"),
        (["--private", "--type=user", "--out", "x"], "--private exports both CAs: drop --type"),
        ([], "ca export: expected --type=user, --type=host, --type=audit or --private --out FILE"),
        (["--type=user", "--out", "x"], "--out: only with --private"),
    ],
)
def test_bad_private_export_arguments_are_one_line(
    ca: AuditorCli, args: list[str], message: str
) -> None:
    out = ca.run("ca", "export", *args, check=False)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == f"auditor: {message}"


def test_importing_never_replaces_other_cas_nor_reads_a_loose_file(
    ca: AuditorCli, tmp_path: Path
) -> None:
    bundle = tmp_path / "cas.json"
    ca.run("ca", "export", "--private", "--out", str(bundle))
    again = ca.run("ca", "export", "--private", "--out", str(bundle), check=False)
    assert again.returncode == 1 and "never written over a file" in again.stderr

    other = AuditorCli(tmp_path / "other")
    other.run("ca", "init")
    before = other.run("ca", "export", "--type=user").stdout
    out = other.run("ca", "import", str(bundle), check=False)
    assert out.returncode == 1 and len(out.stderr.strip().splitlines()) == 1
    assert "already has another user CA" in out.stderr
    assert other.run("ca", "export", "--type=user").stdout == before

    os.chmod(bundle, 0o644)
    fresh = AuditorCli(tmp_path / "fresh")
    out = fresh.run("ca", "import", str(bundle), check=False)
    assert out.returncode == 1 and "is readable by others" in out.stderr
    assert not (fresh.data_dir / "ca" / "user_ca").exists()

    junk = tmp_path / "junk.json"
    junk.write_text('{"format": "something else"}')
    os.chmod(junk, 0o600)
    out = fresh.run("ca", "import", str(junk), check=False)
    assert out.returncode == 1
    assert out.stderr.strip().endswith("not a CA bundle from `auditor ca export --private`")
