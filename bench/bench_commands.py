"""Command extraction benchmark (issue 13).

  .venv/bin/python bench/bench_commands.py [--mb 20]

Command extraction rides on the terminal emulator: it runs a pty session's
output through it and reads the screen when Enter is echoed. This feeds
the mixed ANSI stream of bench/bench_emulator.py (4 KiB records, a typed
command line every 16 records) through ``CommandReader`` and, in the same
run, the same output through a plain ``Terminal``; the target is at least
0.8x the emulator's own rate. Prints the figures and writes
bench/out/commands.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.recording import Record, Stream, encode_resize  # noqa: E402
from auditor.replay.commands import CommandReader  # noqa: E402
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0, help="stream size (default 20)")
    args = parser.parse_args()
    records = session(args.mb)
    output = [r.data for r in records if r.stream == Stream.OUTPUT]
    size = sum(map(len, output))

    terminal = Terminal(80, 24)
    start = time.perf_counter()
    for data in output:
        terminal.feed(data)
    emulator_s = time.perf_counter() - start

    reader = CommandReader()
    start = time.perf_counter()
    for record in records:
        reader.feed(record)
    commands_s = time.perf_counter() - start
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
    print(f"emulator alone:      {result['emulator_mb_s']:7.2f} MB/s")
    print(
        f"command extraction:  {result['commands_mb_s']:7.2f} MB/s  "
        f"({result['ratio']:.2f}x the emulator; target {TARGET}x)"
    )
    print(f"commands found: {found} of {typed}")
    out = ROOT / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "commands.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0 if result["ratio"] >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
