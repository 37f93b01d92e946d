"""Command extraction and command search benchmarks (issue 13).

  .venv/bin/python bench/bench_commands.py [--mb 20] [--sessions 100000] [--per-session 20]

Command extraction rides on the terminal emulator: it runs a pty session's
output through it and reads the screen when Enter is echoed. This feeds
the mixed ANSI stream of bench/bench_emulator.py (4 KiB records, a typed
command line every 16 records) through ``CommandReader`` and, in the same
run, the same output through a plain ``Terminal``; the target is at least
0.8x the emulator's own rate.

Then ``auditor commands --search`` against an SQLite index of
``--sessions`` sessions with ``--per-session`` commands each (built through
the index's own ``store_commands``): the worst and median time of a set of
queries (rare, common, prefix, filtered), target under 100 ms. Prints the
figures and writes bench/out/commands.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.index import SessionIndex  # noqa: E402
from auditor.index.rows import CommandRow  # noqa: E402
from auditor.recording import Record, Stream, encode_resize  # noqa: E402
from auditor.replay.command_reader import CommandReader  # noqa: E402
from auditor.replay.emulator import Terminal  # noqa: E402
from bench.ansi_corpus import chunks  # noqa: E402

MB = 1_000_000
TARGET = 0.8


def session(mb: float) -> list[Record]:
    records = [Record(0, 0.0, Stream.RESIZE, encode_resize(80, 24), 0)]
    t = 0.0
    for i, chunk in enumerate(chunks(int(mb * MB), seed=11)):
        t += 0.05
        if i % 16 == 15:
            line = b"grep -c error /var/log/app-%d.log" % i
            records.append(Record(len(records), t, Stream.INPUT, line + b"\r", 0))
            chunk = line + b"\r\n" + chunk
        records.append(Record(len(records), t, Stream.OUTPUT, chunk, 0))
    return records


SEARCH_TARGET_MS = 100.0
VERBS = ["ls", "cat", "grep", "systemctl", "journalctl", "docker", "kubectl", "vim", "tail", "cd"]
NOUNS = ["nginx", "postgres", "/etc/hosts", "/var/log/syslog", "app.log", "deploy", "backup"]


def build_index(data_dir: Path, sessions: int, per_session: int) -> float:
    """Seconds to build it; one rare command ("rm -rf /srv/rare-target") at the start."""
    rng = random.Random(5)
    start = time.perf_counter()
    with SessionIndex.open(data_dir) as index:
        base = time.time() - sessions * 60
        for n in range(sessions):
            sid = index.new_session_id()
            user, node = f"user{n % 50}", f"node{n % 200}.example.com"
            index.insert_ended(
                sid,
                start=base + n * 60,
                end=base + n * 60 + 30,
                user=user,
                login="root",
                node=node,
                recording_path=None,
            )
            rows = [
                CommandRow(
                    sid,
                    float(i),
                    base + n * 60 + i,
                    f"{rng.choice(VERBS)} {rng.choice(NOUNS)} {rng.randrange(1000)}",
                    "$",
                    user,
                    "root",
                    node,
                )
                for i in range(per_session)
            ]
            if n == 0:
                rows[0] = CommandRow(
                    sid, 0.0, base, "rm -rf /srv/rare-target", "$", user, "root", node
                )
            index.store_commands(sid, rows)
    return time.perf_counter() - start


def bench_search(data_dir: Path) -> dict[str, object]:
    queries = [
        {"search": "rare-target"},
        {"search": "nginx"},
        {"search": "journal*"},
        {"search": "grep /etc/hosts"},
        {"search": "docker", "user": "user7"},
        {"search": "vim", "node": "node3.example.com"},
        {},
    ]
    timings: dict[str, float] = {}
    with SessionIndex.open(data_dir) as index:
        for q in queries:
            runs = []
            for _ in range(5):
                start = time.perf_counter()
                index.commands(limit=100, **q)  # type: ignore[arg-type]
                runs.append((time.perf_counter() - start) * 1000)
            timings[json.dumps(q)] = statistics.median(runs)
    worst = max(timings.values())
    return {"queries_ms": timings, "worst_ms": round(worst, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="stream size (default 20)")
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--per-session", type=int, default=20)
    args = parser.parse_args()
    records = session(args.mb)
    output = [r.data for r in records if r.stream == Stream.OUTPUT]
    size = sum(map(len, output))

    # CPU time, not wall time: on a shared machine the two runs would otherwise
    # measure whatever else was running.
    terminal = Terminal(80, 24)
    start = time.process_time()
    for data in output:
        terminal.feed(data)
    emulator_s = time.process_time() - start

    reader = CommandReader()
    start = time.process_time()
    for record in records:
        reader.feed(record)
    commands_s = time.process_time() - start
    found = len(reader.commands)

    typed = sum(1 for r in records if r.stream == Stream.INPUT)
    result = {
        "stream_mb": round(size / MB, 1),
        "emulator_mb_s": round(size / emulator_s / MB, 2),
        "commands_mb_s": round(size / commands_s / MB, 2),
        "ratio": round(emulator_s / commands_s, 2),
        "commands_typed": typed,
        "commands_found": found,
    }
    print(f"stream: {result['stream_mb']} MB, {typed} command lines typed")
    print(f"emulator alone:      {result['emulator_mb_s']:7.2f} MB per CPU second")
    print(
        f"command extraction:  {result['commands_mb_s']:7.2f} MB per CPU second  "
        f"({result['ratio']:.2f}x the emulator; target {TARGET}x)"
    )
    print(f"commands found: {found} of {typed}")
    with tempfile.TemporaryDirectory() as tmp:
        built = build_index(Path(tmp), args.sessions, args.per_session)
        print(
            f"index: {args.sessions} sessions x {args.per_session} commands built in {built:.0f} s"
        )
        search = bench_search(Path(tmp))
    for q, ms in search["queries_ms"].items():  # type: ignore[attr-defined]
        print(f"  commands {q:45s} {ms:7.1f} ms (median of 5)")
    worst = float(search["worst_ms"])  # type: ignore[arg-type]
    print(
        f"  worst {worst:.1f} ms (target < {SEARCH_TARGET_MS:.0f} ms) "
        f"{'MET' if worst < SEARCH_TARGET_MS else 'NOT MET'}"
    )
    result["search"] = search
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "commands.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["ratio"] >= TARGET and worst < SEARCH_TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
