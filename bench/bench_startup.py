#!/usr/bin/env python3
"""Start-up of everyday commands as whole processes (issue #21, point 9).

Builds an embedded index of 1,000 ended sessions (each with a short recording,
its text and commands indexed), then times `auditor --help`, `auditor sessions`
and `auditor commands` from exec to exit, beside `python -c pass` on the same
machine, and prints median / p90 / worst of each and the target (150 ms median).

    .venv/bin/python bench/bench_startup.py [--runs 21] [--sessions 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.index import SessionIndex  # noqa: E402
from auditor.recording import RecordingWriter, Stream, encode_exit, encode_resize  # noqa: E402
from auditor.upkeep.text_extraction import extract_text  # noqa: E402

TARGET_MS = 150.0
NOW = 1_780_000_000.0


def build(data_dir: Path, n: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    with SessionIndex.open(data_dir) as index:
        for i in range(n):
            sid = f"{i:08x}" + "0" * 24
            path = index.recording_path(sid)
            start = NOW - 60 * (n - i)
            with RecordingWriter.create(path, {"session_id": sid, "start": start}) as w:
                w.append(Stream.RESIZE, encode_resize(80, 24), 0.0)
                w.append(Stream.OUTPUT, b"$ ", 0.1)
                w.append(Stream.INPUT, f"uptime {i}\r".encode(), 0.5)
                w.append(
                    Stream.OUTPUT, f"uptime {i}\r\n up 3 days, load {i % 7}\r\n$ ".encode(), 0.6
                )
                w.append(Stream.EXIT, encode_exit(0), 1.0)
            index.start_session(
                sid,
                user=f"user{i % 13}",
                login="root",
                node=f"node{i % 37}.example.com",
                port=22,
                kind="session",
                command=None,
                start=start,
                recording_path=str(path),
                bytes_out=64,
            )
            index.end_session(sid, exit_status=0, end=start + 1.0)
            extract_text(index, sid)


def timed(argv: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) milliseconds of each run, from exec to exit.

    CPU time is what the process itself costs: on a machine other work loads,
    wall time also counts the waits for a core."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
        wall.append((time.perf_counter() - t0) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu.append(used * 1000)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--sessions", type=int, default=1000)
    opts = ap.parse_args()
    auditor = str(Path(sys.executable).parent / "auditor")
    with tempfile.TemporaryDirectory(prefix="auditor-startup-") as tmp:
        data_dir = Path(tmp) / "home"
        t0 = time.perf_counter()
        build(data_dir, opts.sessions)
        print(f"built {opts.sessions} sessions in {time.perf_counter() - t0:.1f} s")
        env = {**os.environ, "AUDITOR_HOME": str(data_dir)}
        env.pop("AUDITOR_CONFIG", None)
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "auditor --help": [auditor, "--help"],
            "auditor sessions": [auditor, "sessions"],
            "auditor commands": [auditor, "commands"],
        }
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        print(
            f"{'command':<20} {'median':>8} {'p90':>8} {'worst':>8} {'cpu med':>8}"
            f"  (ms, {opts.runs} runs)"
        )
        medians = {}
        for name, argv in cases.items():
            wall, cpu = timed(argv, env, opts.runs)
            ms = sorted(wall)
            medians[name] = statistics.median(ms)
            p90 = ms[int(0.9 * (len(ms) - 1))]
            verdict = ""
            if not name.startswith("python"):
                verdict = "  ok" if medians[name] < TARGET_MS else f"  over {TARGET_MS:.0f} ms"
            print(
                f"{name:<20} {medians[name]:8.1f} {p90:8.1f} {ms[-1]:8.1f}"
                f" {statistics.median(cpu):8.1f}{verdict}"
            )
        base = medians["python -c pass"]
        for name, med in medians.items():
            if not name.startswith("python"):
                print(f"{name:<20} {med / base:.1f}x python -c pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
