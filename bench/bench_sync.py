"""Recording sync benchmarks (issue 25): what putting recordings on the disk costs.

  .venv/bin/python bench/bench_sync.py [--bulk-mb 100] [--runs 3] [--sessions 300] [--seconds 10]

Bulk: `head -c N /dev/zero` through the proxy's one-hop path with
``recording_sync`` off, 1s (the default) and 0, interleaved run by run (off,
1s, 0, off, ...) so that the machine's other load falls on the three alike.
Figures: the proxy's CPU milliseconds per MB (user+system from /proc, a
CPU-time measure that other load inflates little) and the wall-clock MB/s
(best run). The disk's own work (the kernel writes the pages back either
way, sooner with sync) is not the proxy's CPU and is not in it.

Steady: N sessions at once through the nested path, each printing an 80-byte
line every 0.5 s (bash without a process per line), through a proxy run in
this process so that its syncer's counters and its event loop can be read:
sync calls and recordings synced per second, the time the sync threads spent
in the calls, how late a 10 ms timer on the proxy's loop fires (p50, p99,
worst), and the proxy's CPU over the window (this process's CPU time: the
clients and the node are other processes).

Prints each figure and writes bench/out/sync.json for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_proxy import proc_usage, wait_extraction_idle, wait_text_done  # noqa: E402

from auditor.config import HostPort, parse_config  # noqa: E402
from auditor.proxy.service import RecordingProxy  # noqa: E402
from tests.harness.auditor_cli import AuditorCli  # noqa: E402
from tests.harness.openssh import SshAgent, SshClient, Sshd, login_name  # noqa: E402
from tests.harness.proxy import ProxyProcess  # noqa: E402

NODE = "node.example.com"
MODES = ("off", "1s", "0")
# A line every 0.5 s without a process per line: `read -t` on a pipe nobody writes.
# Every session still has output at each of the writer's once-a-second flushes (the
# sync load of a busy session) while the node and the clients cost the machine little.
PRINTER = (
    "exec 3<> <(:); pad=$(printf '%070d' 0); i=0; "
    'while :; do echo "$pad $i"; i=$((i + 1)); read -t 0.5 -u 3; done'
)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bulk-mb", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sessions", type=int, default=300)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--parts", default="bulk,steady", help="bulk, steady or both")
    args = ap.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp_s:  # /tmp: check it is a disk, not tmpfs
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
        n = args.sessions
        sshd = Sshd.start(
            node_dir,
            host_key=node_dir / NODE,
            host_certificate=node_dir / f"{NODE}-cert.pub",
            trusted_user_ca=user_ca,
            extra={"MaxStartups": f"{n + 50}:30:{n + 100}", "MaxSessions": str(n)},
        )
        agent = SshAgent.start(tmp)
        try:
            cli.env.update(agent.env)
            cli.run("login", f"--user={login_name()}")
            host_line = cli.run("ca", "export", "--type=host").stdout.strip()
            if "bulk" in args.parts:
                results["bulk"] = bulk(cli, tmp, sshd, agent, host_line, args.bulk_mb, args.runs)
            if "steady" in args.parts:
                results["steady"] = {
                    mode: asyncio.run(steady(cli, tmp, sshd, agent, host_line, mode, args))
                    for mode in ("off", "1s")
                }
        finally:
            agent.stop()
            sshd.stop()
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    name = "sync.json" if args.parts == "bulk,steady" else f"sync-{args.parts}.json"
    (out / name).write_text(json.dumps(results, indent=2))


def bulk(
    cli: AuditorCli,
    tmp: Path,
    sshd: Sshd,
    agent: SshAgent,
    host_line: str,
    mb: int,
    runs: int,
) -> dict[str, dict[str, float]]:
    print(f"bulk output through one hop: {mb} MB of zeros, {runs} runs a mode, interleaved")
    user = login_name()
    figures: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
    for run in range(runs):
        for mode in MODES:
            proxy = ProxyProcess.start(
                cli.data_dir,
                tmp / f"proxy-{mode}-{run}",
                "",
                {NODE: sshd.port},
                f"  recording_sync: {mode}\n",
            )
            try:
                hop = SshClient(tmp / f"hop-{mode}-{run}", agent, known_hosts_lines=[host_line])
                hop.extra_config = [
                    "Host *.example.com",
                    f"    ProxyCommand {sys.executable} -m auditor connect "
                    f"--proxy 127.0.0.1:{proxy.port} %h:%p",
                    "    ProxyUseFdpass yes",
                    "    ForwardAgent no",
                ]
                argv = hop.argv(
                    "-p", str(sshd.port), f"{user}@{NODE}", f"head -c {mb}000000 /dev/zero"
                )
                wait_text_done(cli.data_dir)
                wait_extraction_idle(proxy.proc.pid)
                cpu0 = proc_usage(proxy.proc.pid)[0]
                start = time.perf_counter()
                out = subprocess.run(
                    argv, env=hop.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                )
                wall = time.perf_counter() - start
                if out.returncode != 0:
                    raise SystemExit(f"bulk through the proxy failed: {out.stderr.decode()}")
                time.sleep(0.5)  # the seal and its sync
                cpu = proc_usage(proxy.proc.pid)[0] - cpu0
                figures[mode].append((mb / wall, cpu / mb * 1000))
            finally:
                proxy.stop()
    result: dict[str, dict[str, float]] = {}
    for mode in MODES:
        best = max(r[0] for r in figures[mode])
        cpu = statistics.median(r[1] for r in figures[mode])
        result[mode] = {"mb_s": best, "cpu_ms_per_mb": cpu}
    for mode in MODES:
        r = result[mode]
        print(
            f"  {mode:3s}  {r['mb_s']:6.1f} MB/s (best), proxy {r['cpu_ms_per_mb']:.2f} CPU ms/MB "
            f"(median); CPU vs off {r['cpu_ms_per_mb'] / result['off']['cpu_ms_per_mb'] - 1:+.1%}, "
            f"MB/s vs off {r['mb_s'] / result['off']['mb_s'] - 1:+.1%}"
        )
    return result


async def steady(
    cli: AuditorCli,
    tmp: Path,
    sshd: Sshd,
    agent: SshAgent,
    host_line: str,
    mode: str,
    args: argparse.Namespace,
) -> dict[str, float]:
    n = args.sessions
    print(f"{n} sessions printing an 80-byte line every 0.5 s, recording_sync {mode}")
    config = parse_config(
        yaml.safe_load(
            f"proxy_service:\n  max_unauthenticated: {n + 100}\n  dial_timeout: 120s\n"
            f"  recording_sync: {mode}\nnodes:\n  {NODE}: {{addr: 127.0.0.1}}\n"
        )
    )
    proxy = RecordingProxy(replace(config, listen_addr=HostPort("127.0.0.1", 0)), cli.data_dir)
    await proxy.start()
    assert proxy.address is not None
    via = SshClient(tmp / f"via-{mode}", agent, known_hosts_lines=[host_line])
    via.extra_config = [
        "Host proxy.example.com",
        "    HostName 127.0.0.1",
        f"    Port {proxy.address[1]}",
        "    HostKeyAlias proxy.example.com",
        "    ProxyCommand none",
        "Host *.example.com",
        f"    ProxyCommand ssh -F {via.config_path} -o 'ForwardAgent no' "
        f"-p {proxy.address[1]} %r@proxy.example.com -s proxy:%h:%p",
    ]
    argv = via.argv("-p", str(sshd.port), f"{login_name()}@{NODE}", PRINTER)
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    measuring = False

    async def probe() -> None:
        while True:
            t = loop.time()
            await asyncio.sleep(0.01)
            if measuring:
                lags.append(loop.time() - t - 0.01)

    prober = loop.create_task(probe())
    clients = []
    errors = open(tmp / f"clients-{mode}.log", "wb")  # noqa: SIM115
    try:
        for i in range(n):  # ramped: logins at a pace the node's sshd takes
            clients.append(
                await asyncio.create_subprocess_exec(
                    *argv,
                    env=via.env(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                )
            )
            if i % 10 == 9:
                await asyncio.sleep(1.0)
        deadline = time.monotonic() + 180
        while len(proxy.recordings) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        live = len(proxy.recordings)
        await asyncio.sleep(2)  # every session past its first flush
        stats0 = asdict(proxy.syncer.stats)
        cpu0, t0 = time.process_time(), time.monotonic()
        measuring = True
        await asyncio.sleep(args.seconds)
        measuring = False
        cpu, window = time.process_time() - cpu0, time.monotonic() - t0
        stats = {k: v - stats0[k] for k, v in asdict(proxy.syncer.stats).items()}
    finally:
        prober.cancel()
        for client in clients:
            if client.returncode is None:
                client.kill()
        for client in clients:
            await client.wait()
        errors.close()
        await proxy.stop()
    figures = {
        "sessions": live,
        "calls_per_s": stats["calls"] / window,
        "files_per_s": stats["files"] / window,
        "rounds_per_s": stats["rounds"] / window,
        "sync_busy": stats["seconds"] / window,
        "proxy_cpu": cpu / window,
        "lag_p50_ms": statistics.median(lags) * 1000,
        "lag_p99_ms": percentile(lags, 99) * 1000,
        "lag_max_ms": max(lags) * 1000,
    }
    print(
        f"  {live} live; {figures['calls_per_s']:.0f} sync calls/s "
        f"({figures['files_per_s']:.0f} recordings/s in {figures['rounds_per_s']:.1f} rounds/s, "
        f"threads in the calls {figures['sync_busy']:.2f} s/s); proxy CPU "
        f"{figures['proxy_cpu']:.2f} of a core; loop late p50 {figures['lag_p50_ms']:.1f} ms, "
        f"p99 {figures['lag_p99_ms']:.1f} ms, worst {figures['lag_max_ms']:.1f} ms"
    )
    return figures


if __name__ == "__main__":
    main()
