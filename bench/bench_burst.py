"""A burst of sessions to one node with sshd's default MaxStartups (issue 22).

N sessions (`ssh node 'echo ok-N'`, the real OpenSSH client) started at once
against one sshd that has no MaxStartups line (10:30:100), on three paths
side by side: direct, one hop (`auditor connect`) and nested (`ssh -s
proxy:...` as ProxyCommand). Per path: sessions that succeeded (exit 0 and
their own `ok-N`), p50/p99 time to first output (from each client's start),
the wall time of the burst, and the proxy's peak RSS (VmHWM). Each path gets
a fresh sshd and a fresh proxy, so nothing lingers from the run before.

Then `--long` one-hop sessions opened `--gap` apart that stay open
(`echo ok-N; sleep S`), all of them open at once at the end, against the same
default sshd.

  .venv/bin/python bench/bench_burst.py [--n 200,500] [--paths direct,one_hop,nested]
      [--long 300] [--gap 0.02] [--hold 15]

Writes bench/out/burst.json for docs/benchmarks.md. It starts N processes at
once (2N on the nested path): keep N small on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.harness.auditor_cli import AuditorCli  # noqa: E402
from tests.harness.openssh import SshAgent, SshClient, Sshd, login_name  # noqa: E402
from tests.harness.proxy import ProxyProcess  # noqa: E402

NODE = "node.example.com"
PATHS = ("direct", "one_hop", "nested")
CONNECT_TIMEOUT: int | None = None  # --connect-timeout; None: the harness's 10 s


@dataclass
class Outcome:
    ok: bool
    first: float | None  # seconds from the client's start to its first output byte
    err: str


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def session(argv: list[str], env: dict[str, str], want: bytes) -> Outcome:
    started = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return Outcome(False, None, f"spawn: {exc}")
    assert proc.stdout is not None and proc.stderr is not None
    first_chunk = await proc.stdout.read(1)
    first = time.monotonic() - started if first_chunk else None
    rest = await proc.stdout.read()
    err = await proc.stderr.read()
    code = await proc.wait()
    out = first_chunk + rest
    return Outcome(code == 0 and out == want, first, err.decode(errors="replace").strip())


def make_node(tmp: Path, cli: AuditorCli, name: str) -> Sshd:
    node_dir = tmp / name
    node_dir.mkdir()
    cli.run("ca", "sign", f"--host={NODE}", "--format=openssh", "--out", str(node_dir))
    user_ca = node_dir / "user_ca.pub"
    exported = cli.run("ca", "export", "--type=user").stdout
    user_ca.write_text(exported.removeprefix("cert-authority "))
    return Sshd.start(
        node_dir,
        host_key=node_dir / NODE,
        host_certificate=node_dir / f"{NODE}-cert.pub",
        trusted_user_ca=user_ca,
        # No MaxStartups: sshd's default 10:30:100, as on a node nobody tuned.
    )


def client_for(
    path: str, tmp: Path, agent: SshAgent, host_line: str, sshd: Sshd, proxy: ProxyProcess | None
) -> SshClient:
    client = SshClient(tmp / f"client-{path}", agent, known_hosts_lines=[host_line])
    if path == "direct":
        client.hosts[NODE] = ("127.0.0.1", sshd.port)
    elif path == "one_hop":
        assert proxy is not None
        client.extra_config = [
            "Host *.example.com",
            f"    ProxyCommand {sys.executable} -m auditor connect "
            f"--proxy 127.0.0.1:{proxy.port} %h:%p",
            "    ProxyUseFdpass yes",
            "    ForwardAgent no",
        ]
    else:
        assert proxy is not None
        proxy.route(client, agent=False)
    if CONNECT_TIMEOUT is not None:
        # Before any Host block, so it is the value every hop's ssh takes (the
        # nested path's ProxyCommand ssh reads the same file).
        client.extra_config.insert(0, f"ConnectTimeout {CONNECT_TIMEOUT}")
    return client


async def burst(
    n: int, path: str, client: SshClient, sshd: Sshd, gap: float, hold: float
) -> tuple[list[Outcome], float]:
    port = [] if path == "direct" else ["-p", str(sshd.port)]
    user = login_name()
    env = client.env()
    tail = f"; sleep {hold:g}" if hold else ""
    tasks = []
    started = time.monotonic()
    for i in range(n):
        argv = client.argv(*port, f"{user}@{NODE}", f"echo ok-{i}{tail}")
        tasks.append(asyncio.create_task(session(argv, env, f"ok-{i}\n".encode())))
        await asyncio.sleep(gap)
    results = await asyncio.gather(*tasks)
    return results, time.monotonic() - started


def summary(results: list[Outcome], wall: float, rss: float | None) -> dict[str, object]:
    firsts = [r.first for r in results if r.ok and r.first is not None]
    errors: dict[str, int] = {}
    for r in results:
        if not r.ok:
            lines = r.err.splitlines() or ["(no message)"]
            # The proxy's own line says why, where there is one; else ssh's last.
            said = [ln for ln in lines if "auditor:" in ln or "failed" in ln]
            key = (said or lines)[-1][:110]
            errors[key] = errors.get(key, 0) + 1
    return {
        "sessions": len(results),
        "succeeded": sum(r.ok for r in results),
        "p50_first_output_s": statistics.median(firsts) if firsts else None,
        "p99_first_output_s": percentile(firsts, 99) if firsts else None,
        "wall_s": wall,
        "proxy_peak_rss_mb": rss,
        "errors": dict(sorted(errors.items(), key=lambda kv: -kv[1])[:4]),
    }


def show(label: str, s: dict[str, object]) -> None:
    p50, p99, rss = s["p50_first_output_s"], s["p99_first_output_s"], s["proxy_peak_rss_mb"]
    print(
        f"  {label:9s} {s['succeeded']:>4}/{s['sessions']:<4} ok   first output p50 "
        f"{p50 if p50 is None else f'{p50:5.2f}s'} p99 {p99 if p99 is None else f'{p99:5.2f}s'}"
        f"   wall {s['wall_s']:5.1f}s"
        + (f"   proxy peak RSS {rss:.0f} MB" if rss is not None else "")
        + (f", CPU {s['proxy_cpu_s']:.1f}s" if "proxy_cpu_s" in s else ""),
        flush=True,
    )
    for message, count in s["errors"].items():  # type: ignore[attr-defined]
        print(f"      {count:4d}x {message}")
    for line in s.get("proxy_log", []):  # type: ignore[attr-defined]
        print(f"      proxy: {line[:160]}")
    for line in s.get("dial_queue", []):  # type: ignore[attr-defined]
        print(f"      dial queue: {line}")
    if s.get("failure_kinds"):
        print(f"      failure kinds indexed: {', '.join(s['failure_kinds'])}")  # type: ignore[arg-type]


def run_one(
    tmp: Path,
    cli: AuditorCli,
    agent: SshAgent,
    host_line: str,
    path: str,
    n: int,
    gap: float = 0.0,
    hold: float = 0.0,
    tag: str = "",
) -> dict[str, object]:
    name = f"{path}-{n}{tag}"
    sshd = make_node(tmp, cli, f"node-{name}")
    proxy = None
    try:
        if path != "direct":
            proxy = ProxyProcess.start(cli.data_dir, tmp / f"proxy-{name}", "", {NODE: sshd.port})
        client = client_for(path, tmp / name, agent, host_line, sshd, proxy)
        t0 = time.time()
        results, wall = asyncio.run(burst(n, path, client, sshd, gap, hold))
        rss = peak_rss_mb(proxy.proc.pid) if proxy is not None else None
        out = summary(results, wall, rss)
        if proxy is not None:
            fields = Path(f"/proc/{proxy.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            out["proxy_cpu_s"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        if proxy is not None:
            proxy.stop()  # its last report of the dial queue is written as it stops
            rows = json.loads(cli.run("failures", "--json", "--limit", "1000").stdout)
            out["failure_kinds"] = sorted({str(r["kind"]) for r in rows if r["time"] >= t0})
            out["dial_queue"] = [
                str(r["message"])
                for r in rows
                if r["kind"] == "dial_queued" and r["time"] >= t0 and r["node"] == NODE
            ]
        if proxy is not None and out["succeeded"] != n:
            # What the proxy said about the ones that failed.
            said = [ln for ln in proxy.log().splitlines() if "WARNING" in ln or "ERROR" in ln]
            out["proxy_log"] = said[-8:]
        return out
    finally:
        if proxy is not None:
            proxy.stop()
        sshd.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def held_handshakes(tmp: Path, cli: AuditorCli, n: int) -> dict[str, float]:
    """What an unauthenticated connection costs the proxy: ``n`` clients that
    sent their version line and stopped there, held at once (under the default
    cap), the proxy's RSS before and with them."""
    proxy = ProxyProcess.start(cli.data_dir, tmp / f"proxy-held-{n}", "", None)
    held: list[socket.socket] = []
    try:
        time.sleep(1.0)
        before = rss_mb(proxy.proc.pid)
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", proxy.port))
            s.sendall(b"SSH-2.0-OpenSSH_9.6 held\r\n")
            held.append(s)
        for s in held:  # each one's server is up: it has answered with its version line
            s.settimeout(30)
            s.recv(256)
        time.sleep(1.0)
        alive = proxy.proc.poll() is None
        after = rss_mb(proxy.proc.pid)
    finally:
        for s in held:
            s.close()
        proxy.stop()
    return {
        "connections": n,
        "rss_before_mb": before,
        "rss_with_mb": after,
        "kib_each": (after - before) * 1024 / n,
        "proxy_alive": alive,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", default="200,500", help="burst sizes, comma-separated")
    ap.add_argument("--paths", default=",".join(PATHS))
    ap.add_argument("--long", type=int, default=300, help="long-lived one-hop sessions (0: skip)")
    ap.add_argument("--gap", type=float, default=0.02, help="between the long-lived ones")
    ap.add_argument("--hold", type=float, default=15.0, help="how long each long-lived one stays")
    ap.add_argument("--held", type=int, default=1000, help="unauthenticated ones held (0: skip)")
    ap.add_argument(
        "--connect-timeout",
        type=int,
        help="the clients' ConnectTimeout in seconds (default 10, as the tests'): a user's "
        "ssh has none unless configured, and waits for a proxy busy with a burst",
    )
    args = ap.parse_args()
    global CONNECT_TIMEOUT
    CONNECT_TIMEOUT = args.connect_timeout
    sizes = [int(x) for x in args.n.split(",") if x]
    paths = [p for p in args.paths.split(",") if p]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # three pipes a client
    print(
        f"open files {hard}, cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f} at start",
        flush=True,
    )
    results: dict[str, object] = {"load_at_start": os.getloadavg()[0], "bursts": {}}
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        cli = AuditorCli(tmp / "home")
        cli.run("ca", "init")
        agent = SshAgent.start(tmp)
        try:
            cli.env.update(agent.env)
            cli.run("login", f"--user={login_name()}")
            host_line = cli.run("ca", "export", "--type=host").stdout.strip()
            for n in sizes:
                print(f"{n} sessions at once, one sshd with its default MaxStartups:", flush=True)
                for path in paths:
                    s = run_one(tmp, cli, agent, host_line, path, n)
                    results["bursts"][f"{path}/{n}"] = s  # type: ignore[index]
                    show(path, s)
            if args.held:
                h = held_handshakes(tmp, cli, args.held)
                results["held_handshakes"] = h
                print(
                    f"{args.held} clients held after their version line: proxy RSS "
                    f"{h['rss_before_mb']:.0f} -> {h['rss_with_mb']:.0f} MB, "
                    f"{h['kib_each']:.0f} KiB each",
                    flush=True,
                )
            if args.long:
                print(
                    f"{args.long} one-hop sessions opened {args.gap * 1000:.0f} ms apart, "
                    f"each open {args.hold:g}s, default MaxStartups:",
                    flush=True,
                )
                s = run_one(
                    tmp, cli, agent, host_line, "one_hop", args.long, args.gap, args.hold, "-long"
                )
                results["long_lived"] = s
                show("one_hop", s)
        finally:
            agent.stop()
    results["load_at_end"] = os.getloadavg()[0]
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "burst.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
