"""Recordings and index benchmark (issue 3): writer throughput, search latency, index size.

    .venv/bin/python bench/bench_store.py             # the full run (~100,000 sessions, 500 MB)
    .venv/bin/python bench/bench_store.py --quick     # a smaller run to check it works

Writer: ``RecordingWriter.append`` with hashing and buffering, ``flush_if_due``
as the proxy calls it, ``close``; 32 KiB chunks (an SSH channel packet) and
100-byte chunks (interactive typing). Index: sessions recorded through the
writer, their text extracted by the index's own extractor (in bulk
transactions, as ``auditor import`` does), then ``sessions --search`` for a
rare and a common word through the library call behind the command, and
once through the real command line. Figures are printed with their ratios to
the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from auditor.index import SessionIndex  # noqa: E402
from auditor.recording import RecordingWriter, Stream  # noqa: E402
from auditor.upkeep.text_extraction import extract_text  # noqa: E402

WRITER_TARGET_MBS = 300.0
SEARCH_TARGET_MS = 100.0
RARE = "quixotically"
COMMON = "the"


def bench_writer(tmp: Path, total_mb: int) -> dict[str, float]:
    results = {}
    for label, size in (("32 KiB", 32 * 1024), ("100 B", 100)):
        chunk = os.urandom(size)
        count = total_mb * 1024 * 1024 // size if size > 1000 else 400_000
        path = tmp / f"writer-{size}.rec"
        t0 = time.perf_counter()
        w = RecordingWriter.create(path, {"session_id": "bench"})
        append, due = w.append, w.flush_if_due
        for i in range(count):
            append(Stream.OUTPUT, chunk)
            if i & 63 == 0:
                due()
        w.close()
        elapsed = time.perf_counter() - t0
        results[label] = count * size / elapsed / 1e6
        results[f"{label} records/s"] = count / elapsed
        path.unlink()
        path.with_name(path.name + ".idx").unlink()
    return results


def corpus(seed: int) -> tuple[list[str], list[str]]:
    """Lines of terminal-ish output over a Zipf vocabulary, with escape sequences."""
    rnd = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = [COMMON] + ["".join(rnd.choices(letters, k=rnd.randint(2, 10))) for _ in range(60_000)]
    vocab = [w for w in vocab if w != RARE]
    cum, total = [], 0.0
    for i in range(len(vocab)):
        total += 1.0 / (i + 1)
        cum.append(total)
    lines = []
    for _ in range(60_000):
        words = rnd.choices(vocab, cum_weights=cum, k=rnd.randint(3, 14))
        line = " ".join(words)
        if rnd.random() < 0.2:
            line = f"\x1b[1;3{rnd.randint(1, 7)}m{line}\x1b[0m"
        lines.append(line + "\r\n")
    return vocab, lines


def build_index(tmp: Path, sessions: int, text_mb: int) -> dict[str, float]:
    data_dir = tmp / "data"
    data_dir.mkdir()
    _, lines = corpus(7)
    avg_line = statistics.mean(len(x) for x in lines)
    per_session = max(1, int(text_mb * 1e6 / sessions / avg_line))
    rnd = random.Random(11)
    rare_sessions = set(rnd.sample(range(sessions), 20))
    index = SessionIndex.open(data_dir)
    raw_bytes = 0
    t0 = time.perf_counter()
    start = time.time() - sessions
    batch = 500
    write_s = extract_s = 0.0
    for first in range(0, sessions, batch):
        ids = []
        tw = time.perf_counter()
        for i in range(first, min(first + batch, sessions)):
            body = rnd.choices(lines, k=rnd.randint(per_session // 2, per_session * 3 // 2))
            if i in rare_sessions:
                body.insert(len(body) // 2, f"warning: {RARE} long pause\r\n")
            data = "".join(body).encode()
            raw_bytes += len(data)
            sid = index.new_session_id()
            path = index.recording_path(sid)
            with RecordingWriter.create(path, {"session_id": sid, "start": start + i}) as w:
                # Output arrives in SSH-packet-sized pieces.
                for j in range(0, len(data), 16_384):
                    w.append(Stream.OUTPUT, data[j : j + 16_384], j / 1e6)
            ids.append((sid, path, start + i))
        write_s += time.perf_counter() - tw
        te = time.perf_counter()
        with index.transaction():
            for sid, path, t in ids:
                index.start_session(
                    session_id=sid, user=f"user{rnd.randint(1, 50)}", login="root",
                    node=f"node{rnd.randint(1, 200)}.example.com", port=22,
                    client_addr="127.0.0.1:40000", start=t, recording_path=str(path),
                )  # fmt: skip
                index.end_session(sid, exit_status=0, end=t + 1)
                extract_text(index, sid)
        extract_s += time.perf_counter() - te
        done = min(first + batch, sessions)
        if done % 10_000 == 0 or done == sessions:
            rate = raw_bytes / 1e6 / (time.perf_counter() - t0)
            print(f"  {done:>7} sessions, {raw_bytes / 1e6:7.1f} MB output, {rate:5.1f} MB/s")
    index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    text_bytes = index.conn.execute(
        "SELECT sum(length(CAST(text AS BLOB))) FROM session_text"
    ).fetchone()[0]
    index.close()
    db_size = sum(p.stat().st_size for p in data_dir.glob("index.db*"))
    rec_size = sum(p.stat().st_size for p in (data_dir / "recordings").rglob("*") if p.is_file())
    return {
        "sessions": sessions,
        "raw_mb": raw_bytes / 1e6,
        "text_mb": text_bytes / 1e6,
        "db_mb": db_size / 1e6,
        "recordings_mb": rec_size / 1e6,
        "write_s": write_s,
        "extract_s": extract_s,
        "data_dir": str(data_dir),  # type: ignore[dict-item]
    }


def bench_search(data_dir: Path, runs: int) -> dict[str, float]:
    index = SessionIndex.open(data_dir)
    out: dict[str, float] = {}
    for label, word in (("rare", RARE), ("common", COMMON)):
        times = []
        for i in range(runs + 1):
            t0 = time.perf_counter()
            found = index.sessions(search=word, limit=100)
            elapsed = (time.perf_counter() - t0) * 1000
            if i == 0:
                out[f"{label} first ms"] = elapsed
            else:
                times.append(elapsed)
        out[f"{label} median ms"] = statistics.median(times)
        out[f"{label} found"] = len(found)
    index.close()
    env = {**os.environ, "AUDITOR_HOME": str(data_dir)}
    for label, word in (("rare", RARE), ("common", COMMON)):
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "auditor", "sessions", "--search", word],
            check=True, env=env, stdout=subprocess.DEVNULL, cwd=ROOT,
        )  # fmt: skip
        out[f"{label} cli ms"] = (time.perf_counter() - t0) * 1000
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10,000 sessions, 50 MB of output")
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--text-mb", type=int, default=500)
    ap.add_argument("--writer-mb", type=int, default=1024)
    ap.add_argument("--keep", action="store_true", help="keep the data dir for inspection")
    args = ap.parse_args()
    if args.quick:
        args.sessions, args.text_mb, args.writer_mb = 10_000, 50, 256
    tmp = Path(tempfile.mkdtemp(prefix="auditor-bench-store-"))
    try:
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
        print(f"writer: {args.writer_mb} MiB in 32 KiB appends, 400,000 100-byte appends")
        w = bench_writer(tmp, args.writer_mb)
        print(
            f"  32 KiB records: {w['32 KiB']:7.1f} MB/s appended, hashed and written "
            f"(target {WRITER_TARGET_MBS:.0f}: {w['32 KiB'] / WRITER_TARGET_MBS:.2f}x)"
        )
        print(f"  100 B records:  {w['100 B']:7.1f} MB/s ({w['100 B records/s']:,.0f} records/s)")
        print(f"index: {args.sessions:,} sessions, about {args.text_mb} MB of output")
        built = build_index(tmp, args.sessions, args.text_mb)
        print(
            f"  built: writing recordings {built['write_s']:.0f} s, rows + text extraction "
            f"{built['extract_s']:.0f} s ({built['raw_mb'] / built['extract_s']:.1f} MB/s)"
        )
        s = bench_search(Path(str(built["data_dir"])), runs=25)
        for label in ("rare", "common"):
            med = s[f"{label} median ms"]
            print(
                f"  search {label:<6} word: median {med:6.1f} ms over 25 runs "
                f"(first {s[f'{label} first ms']:.1f} ms; "
                f"{s[f'{label} found']:.0f} sessions shown; "
                f"target {SEARCH_TARGET_MS:.0f} ms: {SEARCH_TARGET_MS / med:.1f}x under); "
                f"whole `auditor sessions --search` process {s[f'{label} cli ms']:.0f} ms"
            )
        print(
            f"  text {built['text_mb']:.1f} MB (escape sequences stripped) from "
            f"{built['raw_mb']:.1f} MB of output; index.db {built['db_mb']:.1f} MB = "
            f"{built['db_mb'] / built['text_mb']:.2f}x the text; recordings "
            f"{built['recordings_mb']:.1f} MB"
        )
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
