"""The recording proxy with ``storage.audit_sessions_uri: s3://``: sessions are
recorded to the local spool as ever, sealed recordings go to the bucket, and
the commands read them from there (moto's S3 server, the same client as for
AWS S3 or MinIO)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.harness.s3 import S3Server, free_port
from tests.proxy.conftest import StartProxy, login_and_route

BUCKET = "recordings"


def spooled(cli: AuditorCli) -> list[Path]:
    return sorted((cli.data_dir / "recordings").glob("*/*.rec"))


def sessions(cli: AuditorCli) -> list[dict[str, object]]:
    return list(json.loads(cli.run("sessions", "--json").stdout))


def test_a_session_is_sealed_into_an_object_and_read_from_there(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    s3: S3Server,
) -> None:
    s3.create_bucket(BUCKET)
    node = start_node()
    proxy = start_proxy(
        nodes={NODE: node.port}, config=f"storage:\n  audit_sessions_uri: {s3.uri(BUCKET)}\n"
    )
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo into-the-bucket")
    assert out.returncode == 0 and out.stdout == b"into-the-bucket\n", out.stderr

    cli = AuditorCli(ca.data_dir, config=proxy.config_path)
    [row] = eventually(
        lambda: [s for s in sessions(cli) if str(s["recording_path"]).startswith("s3://")],
        timeout=20,
        what="the session's recording_path naming its object",
    )
    sid = str(row["id"])
    assert f"prod/{sid[:2]}/{sid}.rec" in s3.keys(BUCKET)
    assert f"prod/{sid[:2]}/{sid}.rec.idx" in s3.keys(BUCKET)
    assert f"prod/{sid[:2]}/{sid}.rec.keyframes" in s3.keys(BUCKET)
    assert spooled(cli) == []  # the local copy went once the object was there

    assert "into-the-bucket" in cli.run("replay", sid[:8], "--format", "text").stdout
    assert "into-the-bucket" in cli.run("export", sid[:8], "--format", "text").stdout
    verified = cli.run("verify", sid[:8]).stdout
    assert verified.startswith(f"{sid[:8]}  ok:") and "sealed" in verified, verified


def test_with_the_store_away_sessions_stay_in_the_spool_until_it_returns(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    s3: S3Server,
) -> None:
    s3.create_bucket(BUCKET)
    node = start_node()
    proxy = start_proxy(
        nodes={NODE: node.port}, config=f"storage:\n  audit_sessions_uri: {s3.uri(BUCKET)}\n"
    )
    login_and_route(ca, agent, proxy, ssh_client)
    s3.stop()
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo while-away")
    assert out.returncode == 0 and out.stdout == b"while-away\n", out.stderr

    index = AuditorCli(ca.data_dir)  # the commands' own check would refuse the store away
    [row] = eventually(
        lambda: [s for s in sessions(index) if s["status"] == "ended"], timeout=20, what="ended"
    )
    sid = str(row["id"])
    [kept] = spooled(index)
    assert kept.name == f"{sid}.rec" and row["recording_path"] == str(kept)
    eventually(lambda: "stays in the spool" in proxy.log(), timeout=20, what="a failed upload")

    s3.start()
    eventually(lambda: spooled(index) == [], timeout=30, what="the spool uploaded")
    assert f"prod/{sid[:2]}/{sid}.rec" in s3.keys(BUCKET)
    cli = AuditorCli(ca.data_dir, config=proxy.config_path)
    assert "while-away" in cli.run("export", sid[:8], "--format", "text").stdout
    assert cli.run("verify", sid[:8]).stdout.startswith(f"{sid[:8]}  ok:")


def test_a_missing_bucket_stops_the_proxy_at_start_in_one_line(
    ca: AuditorCli, tmp_path: Path, s3: S3Server
) -> None:
    config = tmp_path / "auditor.yaml"
    config.write_text(
        f"proxy_service:\n  listen_addr: 127.0.0.1:{free_port()}\n"
        f"storage:\n  audit_sessions_uri: {s3.uri('no-such-bucket')}\n"
    )
    proc = AuditorCli(ca.data_dir, config=config).run("proxy", check=False, timeout=30)
    assert proc.returncode != 0
    assert proc.stderr.strip() == (
        f"auditor: storage.audit_sessions_uri: bucket 'no-such-bucket' does not exist at "
        f"{s3.endpoint}"
    ), proc.stderr


def test_a_restarted_proxy_uploads_what_its_spool_still_holds(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    s3: S3Server,
) -> None:
    s3.create_bucket(BUCKET)
    node = start_node()
    config = f"storage:\n  audit_sessions_uri: {s3.uri(BUCKET)}\n"
    proxy = start_proxy(nodes={NODE: node.port}, config=config)
    login_and_route(ca, agent, proxy, ssh_client)
    s3.stop()
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo before-restart")
    assert out.returncode == 0, out.stderr
    index = AuditorCli(ca.data_dir)
    eventually(lambda: [s for s in sessions(index) if s["status"] == "ended"], timeout=20)
    proxy.stop()
    [kept] = spooled(index)

    s3.start()
    again = start_proxy(nodes={NODE: node.port}, config=config)
    eventually(lambda: spooled(index) == [], timeout=30, what="the spool uploaded at start")
    assert f"prod/{kept.parent.name}/{kept.name}" in s3.keys(BUCKET)
    cli = AuditorCli(ca.data_dir, config=again.config_path)
    assert "before-restart" in cli.run("export", kept.stem[:8], "--format", "text").stdout
