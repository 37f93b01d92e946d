"""Fleet benchmarks (issue 12): live follow latency across proxies, and bulk
throughput through a proxy with the shared store against the embedded one.

Everything on loopback, real parts: one sshd node, a PostgreSQL from Debian's
package and moto's S3 server (the test harness's), and `auditor proxy`
processes configured as an operator would.

  .venv/bin/python bench/bench_fleet.py [--samples 300] [--bulk-mb 200]

Live follow: a session through proxy A prints the wall-clock time every
0.1 s; `auditor tail --live` in a third data dir (same storage, so it
follows through the database) reads each line, and the latency is when it
read it minus the time printed in it (one machine, one clock).

Bulk: `cat` of a file of random bytes (nothing for PostgreSQL's lz4 to
squeeze: the shared store copies every live byte), best of 3, through a
proxy on SQLite + data dir and through one on PostgreSQL + bucket.

Prints each figure with its target, and writes bench/out/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.auditor_cli import AuditorCli  # noqa: E402
from tests.harness.openssh import SshAgent, SshClient, Sshd, login_name  # noqa: E402
from tests.harness.postgres import PostgresServer  # noqa: E402
from tests.harness.proxy import ProxyProcess  # noqa: E402
from tests.harness.s3 import CREDENTIALS, S3Server  # noqa: E402

NODE = "node.example.com"
BUCKET = "fleet-bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--bulk-mb", type=int, default=200)
    args = ap.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    os.environ.update(CREDENTIALS)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        cli = AuditorCli(tmp / "home-a")
        cli.run("ca", "init")
        node_dir = tmp / "node"
        node_dir.mkdir()
        cli.run("ca", "sign", f"--host={NODE}", "--format=openssh", "--out", str(node_dir))
        user_ca = node_dir / "user_ca.pub"
        user_ca.write_text(
            cli.run("ca", "export", "--type=user").stdout.removeprefix("cert-authority ")
        )
        sshd = Sshd.start(
            node_dir,
            host_key=node_dir / NODE,
            host_certificate=node_dir / f"{NODE}-cert.pub",
            trusted_user_ca=user_ca,
        )
        agent = SshAgent.start(tmp)
        pg = PostgresServer.start()
        s3 = S3Server.start_new()
        s3.create_bucket(BUCKET)
        proxies: list[ProxyProcess] = []
        try:
            cli.env.update(agent.env)
            cli.run("login", f"--user={login_name()}")
            host_line = cli.run("ca", "export", "--type=host").stdout.strip()
            bundle = tmp / "bundle"
            cli.run("ca", "export", "--private", "--out", str(bundle))
            storage = (
                f"storage:\n  audit_events_uri: {pg.uri()}\n"
                f"  audit_sessions_uri: {s3.uri(BUCKET)}\n"
            )
            target = ("-p", str(sshd.port), f"{login_name()}@{NODE}")

            def proxy_client(name: str, data_dir: Path, config: str) -> SshClient:
                proxy = ProxyProcess.start(data_dir, tmp / f"proxy-{name}", config, {NODE: 0})
                proxies.append(proxy)
                client = SshClient(tmp / f"client-{name}", agent, known_hosts_lines=[host_line])
                proxy.route(client)
                return client

            home_b = AuditorCli(tmp / "home-b")
            home_b.run("ca", "import", str(bundle))
            home_e = AuditorCli(tmp / "home-e")
            home_e.run("ca", "import", str(bundle))
            shared = proxy_client("a", cli.data_dir, storage)
            proxy_client("b", home_b.data_dir, storage)  # a second proxy on the store
            embedded = proxy_client("e", home_e.data_dir, "")

            config_c = tmp / "c.yaml"
            config_c.write_text(storage)
            third = AuditorCli(tmp / "home-c", config=config_c)
            results["live_follow"] = live_follow(shared, third, target, args.samples)
            results["bulk"] = bulk(shared, embedded, target, args.bulk_mb, sshd)
        finally:
            for proxy in proxies:
                proxy.stop()
            s3.stop()
            pg.stop()
            agent.stop()
            sshd.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "fleet.json").write_text(json.dumps(results, indent=2))


def live_follow(
    client: SshClient, third: AuditorCli, target: tuple[str, ...], samples: int
) -> dict[str, float]:
    print(f"live follow across proxies: {samples} lines, 0.1 s apart, via tail --live elsewhere")
    marker = f"bench-{os.getpid()}"
    script = (
        f"sleep 1; for i in $(seq 1 {samples}); do echo {marker} $(date +%s.%N); sleep 0.1; done"
    )
    session = subprocess.Popen(
        client.argv(*target, script),
        env=client.env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        live_id = None
        while live_id is None and time.monotonic() < deadline:
            rows = json.loads(third.run("sessions", "--live", "--json").stdout)
            live_id = next((r["id"] for r in rows if marker in str(r["command"])), None)
            time.sleep(0.1)
        if live_id is None:
            raise SystemExit("the live session never showed up in the third data dir")
        tail = subprocess.Popen(
            [sys.executable, "-m", "auditor", "tail", "--live", live_id],
            env=third.environ(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        assert tail.stdout is not None
        latencies = []
        for raw in tail.stdout:
            got = time.time()
            parts = raw.decode().split()
            if len(parts) == 2 and parts[0] == marker:
                latencies.append(got - float(parts[1]))
        tail.wait()
    finally:
        session.kill()
        session.wait()
    # The first lines were printed before tail started: from its second on.
    steady = latencies[10:]
    figures = {
        "samples": len(steady),
        "p50_ms": statistics.median(steady) * 1000,
        "p99_ms": percentile(steady, 99) * 1000,
        "max_ms": max(steady) * 1000,
    }
    p99 = figures["p99_ms"]
    print(
        f"  p50 {figures['p50_ms']:.0f} ms, p99 {p99:.0f} ms, worst {figures['max_ms']:.0f} ms "
        f"over {len(steady)} lines (target p99 < 1000 ms: {1000 / p99:.1f}x) "
        f"{'MET' if p99 < 1000 else 'NOT MET'}"
    )
    return figures


def bulk(
    shared: SshClient,
    embedded: SshClient,
    target: tuple[str, ...],
    mb: int,
    sshd: Sshd,
) -> dict[str, float]:
    data = sshd.directory / "random.bin"
    with open(data, "wb") as fh:
        for _ in range(mb):
            fh.write(os.urandom(1000 * 1000))
    print(f"bulk output through one proxy: {mb} MB of random bytes, best of 3")
    times: dict[str, float] = {}
    for name, client in (("embedded", embedded), ("shared", shared)):
        runs = []
        for _ in range(3):
            time.sleep(3)  # the previous session's upload and extraction settle
            start = time.perf_counter()
            out = subprocess.run(
                client.argv(*target, f"cat {data}"),
                env=client.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            if out.returncode != 0:
                raise SystemExit(f"{name}: {out.stderr.decode()}")
            runs.append(time.perf_counter() - start)
        times[name] = min(runs)
        print(f"  {name:8s} {mb / times[name]:7.1f} MB/s")
    ratio = times["embedded"] / times["shared"]
    print(f"  shared/embedded = {ratio:.2f} (target >= 0.9) {'MET' if ratio >= 0.9 else 'NOT MET'}")
    return {
        "embedded_mb_s": mb / times["embedded"],
        "shared_mb_s": mb / times["shared"],
        "ratio": ratio,
    }


if __name__ == "__main__":
    main()
