"""How the proxy logs in to nodes, measured (issue 19): a minted certificate vs the agent.

`ssh node true` setup (median of N) and bulk output (best of 3) on three
paths against one real sshd: direct, one hop with ``upstream_auth:
certificate`` (the default: the proxy mints a certificate; no agent
forwarded), and one hop with ``upstream_auth: agent`` (the proxy takes the
certificate from the forwarded agent, as before). Runs are interleaved, so a
machine loaded by something else slows all three alike.

  .venv/bin/python bench/bench_upstream_auth.py [--setup-runs 15] [--bulk-mb 100]

Writes bench/out/upstream_auth.json for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
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
from tests.harness.proxy import ProxyProcess  # noqa: E402

NODE = "node.example.com"
PATHS = ("direct", "certificate", "agent")


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    out = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if out.returncode != 0:
        raise SystemExit(f"failed: {' '.join(argv)}: {out.stderr.decode()}")
    if b"tried agent forwarding" in out.stderr:
        raise SystemExit(f"OpenSSH's agent warning on: {' '.join(argv)}")
    return time.perf_counter() - start


def one_hop(tmp: Path, name: str, agent: SshAgent, host_line: str, port: int) -> SshClient:
    client = SshClient(tmp / name, agent, known_hosts_lines=[host_line])
    client.extra_config = [
        "Host *.example.com",
        f"    ProxyCommand {sys.executable} -m auditor connect --proxy 127.0.0.1:{port} %h:%p",
        "    ProxyUseFdpass yes",
        # What `auditor config ssh` writes in each mode.
        f"    ForwardAgent {'yes' if name == 'agent' else 'no'}",
    ]
    return client


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--setup-runs", type=int, default=15)
    ap.add_argument("--bulk-mb", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        cli = AuditorCli(tmp / "home")
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
            extra={"MaxStartups": "100:30:200"},
        )
        agent = SshAgent.start(tmp)
        proxies: list[ProxyProcess] = []
        try:
            cli.env.update(agent.env)
            cli.run("login", f"--user={login_name()}")
            host_line = cli.run("ca", "export", "--type=host").stdout.strip()
            direct = SshClient(tmp / "direct", agent, known_hosts_lines=[host_line])
            direct.hosts[NODE] = ("127.0.0.1", sshd.port)
            clients = {"direct": direct}
            for mode in ("certificate", "agent"):
                proxy = ProxyProcess.start(
                    cli.data_dir,
                    tmp / f"proxy-{mode}",
                    f"auth_service:\n  upstream_auth: {mode}\n",
                    {NODE: sshd.port},
                )
                proxies.append(proxy)
                clients[mode] = one_hop(tmp, mode, agent, host_line, proxy.port)
            env = direct.env()
            user = login_name()

            def argv(path: str, command: str) -> list[str]:
                port = [] if path == "direct" else ["-p", str(sshd.port)]
                return clients[path].argv(*port, f"{user}@{NODE}", command)

            for path in PATHS:  # warm: first connections, page cache, the proxy's imports
                timed(argv(path, "true"), env)
            setup: dict[str, list[float]] = {p: [] for p in PATHS}
            for _ in range(args.setup_runs):
                for path in PATHS:
                    setup[path].append(timed(argv(path, "true"), env))
            med = {p: statistics.median(v) * 1000 for p, v in setup.items()}
            print(f"setup: `ssh node true`, median of {args.setup_runs}, interleaved")
            for p in PATHS:
                print(f"  {p:11s} {med[p]:6.0f} ms ({med[p] / med['direct']:.2f}x direct)")
            ratio = med["certificate"] / med["direct"]
            print(
                f"  one hop, minted certificate: {ratio:.2f}x direct (target <= 1.0x) "
                f"{'MET' if ratio <= 1.0 else 'NOT MET'}"
            )

            bulk = f"head -c {args.bulk_mb * 1000 * 1000} /dev/zero"
            runs: dict[str, list[float]] = {p: [] for p in PATHS}
            for _ in range(3):
                for path in PATHS:
                    runs[path].append(timed(argv(path, bulk), env))
            mbps = {p: args.bulk_mb / min(v) for p, v in runs.items()}
            print(f"bulk output: {args.bulk_mb} MB of zeros, best of 3, interleaved")
            for p in PATHS:
                print(f"  {p:11s} {mbps[p]:7.1f} MB/s ({mbps[p] / mbps['direct']:.2f} of direct)")
            results = {
                "setup_runs": args.setup_runs,
                "setup_ms": med,
                "setup_ratio_certificate": ratio,
                "setup_ratio_agent": med["agent"] / med["direct"],
                "bulk_mb": args.bulk_mb,
                "bulk_mb_s": mbps,
            }
        finally:
            for proxy in proxies:
                proxy.stop()
            agent.stop()
            sshd.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "upstream_auth.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
