"""Signed anchors with the shared stores: PostgreSQL for the index, an S3 bucket
(moto's server) for recordings. The anchor's sidecar travels to the bucket
with the recording, verify checks it there, and prune deletes it with it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg

from tests.conftest import NODE, StartNode
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.harness.openssh import SshAgent, SshClient, login_name
from tests.harness.s3 import S3Server
from tests.proxy.conftest import StartProxy, login_and_route

BUCKET = "recordings"


def test_the_signed_anchor_goes_to_the_bucket_and_verifies_there(
    ca: AuditorCli,
    agent: SshAgent,
    start_node: StartNode,
    ssh_client: SshClient,
    start_proxy: StartProxy,
    s3: S3Server,
    postgres_uri: str,
    tmp_path: Path,
) -> None:
    s3.create_bucket(BUCKET)
    node = start_node()
    storage = (
        f"storage:\n  audit_events_uri: {postgres_uri}\n  audit_sessions_uri: {s3.uri(BUCKET)}\n"
    )
    proxy = start_proxy(nodes={NODE: node.port}, config=storage)
    login_and_route(ca, agent, proxy, ssh_client)
    out = ssh_client.run("-p", str(node.port), f"{login_name()}@{NODE}", "echo shared-anchor")
    assert out.returncode == 0 and out.stdout == b"shared-anchor\n", out.stderr

    cli = AuditorCli(ca.data_dir, config=proxy.config_path)
    [row] = eventually(
        lambda: [
            s
            for s in json.loads(cli.run("sessions", "--json").stdout)
            if str(s["recording_path"]).startswith("s3://") and s["anchor_signature"]
        ],
        timeout=30,
        what="the session signed and its recording in the bucket",
    )
    sid = str(row["id"])
    key = f"prod/{sid[:2]}/{sid}.rec"
    assert f"{key}.anchor" in s3.keys(BUCKET)
    body = s3.client().get_object(Bucket=BUCKET, Key=f"{key}.anchor")["Body"].read()
    sidecar = json.loads(body)
    assert (sidecar["statement"], sidecar["signature"]) == (
        row["anchor_statement"],
        row["anchor_signature"],
    )
    assert not list((ca.data_dir / "recordings").glob("*/*.rec*"))  # the spool let it go

    verified = cli.run("verify", sid[:8]).stdout
    assert verified.startswith(f"{sid[:8]}  ok: ") and "signed by the audit key" in verified

    # Downloaded from the bucket: checked with the public key alone.
    down = tmp_path / "downloaded"
    down.mkdir()
    for suffix in ("", ".anchor"):
        s3.client().download_file(BUCKET, key + suffix, str(down / f"{sid}.rec{suffix}"))
    (down / "audit.pub").write_text(ca.run("ca", "export", "--type=audit").stdout)
    outsider = AuditorCli(tmp_path / "no-data-dir")
    checked = outsider.run("verify", "--key", str(down / "audit.pub"), str(down / f"{sid}.rec"))
    assert "ok: " in checked.stdout and "signed by the audit key" in checked.stdout

    # The anchor edited in PostgreSQL: named.
    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute(
            "UPDATE sessions SET recording_hash = %s WHERE id = %s", ["3:" + "ab" * 16, sid]
        )
    edited = cli.run("verify", sid[:8], check=False)
    assert edited.returncode == 1 and "the anchor in the index was edited" in edited.stdout
    # Pruned (ended two hours ago, kept one): the anchor object goes with the recording's.
    proxy.stop()
    with psycopg.connect(postgres_uri, autocommit=True) as conn:
        conn.execute(
            'UPDATE sessions SET recording_hash = %s, start = %s, "end" = %s WHERE id = %s',
            [row["recording_hash"], time.time() - 7300, time.time() - 7200, sid],
        )
    config = tmp_path / "prune.yaml"
    config.write_text(proxy.config_path.read_text() + "retention:\n  sessions: 1h\n")
    pruned = AuditorCli(ca.data_dir, config=config).run("prune").stdout
    assert pruned.startswith("removed 1 session(s)"), pruned
    assert [k for k in s3.keys(BUCKET) if sid in k] == []
