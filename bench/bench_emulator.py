"""Terminal emulator and seek benchmarks (issue 5).

  .venv/bin/python bench/bench_emulator.py [--mb 20] [--stock-mb 20] [--recording-mb 100]

- Emulator throughput on a generated mixed ANSI stream (shell, logs, a
  vim-like redraw on the alternate screen, top-like refreshes, UTF-8), fed
  in 4 KiB chunks as a recording stores them, against stock pyte
  (``pyte.Screen`` + ``pyte.ByteStream``) in the same run: CPU time, the
  two taking turns a megabyte at a time.
- Seek: a recording of that stream written with ``RecordingWriter``, keyframes built and
  saved to a sidecar, then the time to show the screen at 100 random
  moments (restore the keyframe, re-emulate from it, render the lines).
- Keyframe storage as a fraction of the recording's size.
- Fidelity: how many screens equal tmux's on the same bytes (pyte's captured
  corpus, real programs recorded under a pty, a fixed set of generated
  streams of the sequences emulators get wrong); tmux must be installed.

Prints each figure with its target and writes them to bench/out/emulator.json
and the "Terminal emulator and seek" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from auditor.recording import RecordingReader, RecordingWriter, Stream, encode_resize  # noqa: E402
from auditor.replay.emulator import Terminal  # noqa: E402
from auditor.replay.keyframes import (  # noqa: E402
    DEFAULT_EVERY_BYTES,
    KeyframeIndex,
    sidecar_path,
)
from auditor.replay.recorded import recording_source  # noqa: E402
from bench.ansi_corpus import chunks, fidelity_streams  # noqa: E402
from tests.harness.programs import record_programs  # noqa: E402
from tests.harness.reference_terminal import ReferenceTerminal  # noqa: E402

MB = 1_000_000
SECTION = "## Terminal emulator and seek"
THROUGHPUT_TARGET = 3.0  # x stock pyte
SEEK_TARGET_MS = 100.0
CORPUS = ROOT / "tests" / "corpus" / "pyte-captured"
GENERATED_SIZE = (40, 12)
# This bench run on the emulator as it was before issue 10 made it follow
# tmux (commit 31dc8dc), on the same machine the same day.
BEFORE_ISSUE_10 = (
    "20 of 69 (corpus 7/7, programs 12/12, generated streams 1/50), with a throughput "
    "ratio of 4.40x measured the same way"
)


def write_recording(path: Path, size: int) -> float:
    """A ~``size`` byte session in the real recording format: 4 KiB of output
    every 50 ms, a resize now and then, flushed every second as the proxy
    does. Returns its duration."""
    rng = random.Random(7)
    t = 0.0
    with RecordingWriter.create(path, {"user": "bench"}) as writer:
        writer.append(Stream.RESIZE, encode_resize(80, 24), t=t)
        for i, chunk in enumerate(chunks(size, seed=11)):
            t += 0.05
            if i % 2000 == 1999:
                cols, rows = rng.choice([80, 100, 132]), rng.choice([24, 40])
                writer.append(Stream.RESIZE, encode_resize(cols, rows), t=t)
            writer.append(Stream.OUTPUT, chunk, t=t)
            # The proxy flushes (and checkpoints) once a second of session
            # time; readers seek by those checkpoints.
            if int(t) != int(t - 0.05):
                writer.flush()
    return t


def bench_throughput(mb: float, stock_mb: float) -> dict[str, float | str]:
    """Both emulators take the stream in turns, a megabyte (256 chunks) at a
    time, and each is charged the CPU time of its turns: on a busy machine
    other work then slows both alike instead of whichever ran when it
    peaked."""
    data = list(chunks(int(mb * MB)))
    ours_feed = Terminal(80, 24).feed
    stock_feed = pyte.ByteStream(pyte.Screen(80, 24)).feed
    ours = stock = 0.0
    size = stock_size = 0
    for start in range(0, len(data), 256):
        turn = data[start : start + 256]
        began = time.process_time()
        for chunk in turn:
            ours_feed(chunk)
        ours += time.process_time() - began
        size += sum(map(len, turn))
        if stock_size < stock_mb * MB:
            began = time.process_time()
            for chunk in turn:
                stock_feed(chunk)
            stock += time.process_time() - began
            stock_size += sum(map(len, turn))
    ours_rate = size / ours / MB
    stock_rate = stock_size / stock / MB
    return {
        "stream_mb": round(size / MB, 1),
        "stock_stream_mb": round(stock_size / MB, 1),
        "auditor_mb_s": round(ours_rate, 2),
        "stock_mb_s": round(stock_rate, 2),
        "ratio": round(ours_rate / stock_rate, 2),
    }


def bench_seek(recording_mb: float, workdir: Path) -> dict[str, float]:
    path = workdir / "session.rec"
    duration = write_recording(path, int(recording_mb * MB))
    source = recording_source(RecordingReader(path))
    recording_size = path.stat().st_size

    start = time.perf_counter()
    index = KeyframeIndex.build(source(0.0))
    build_s = time.perf_counter() - start
    sidecar = sidecar_path(path)
    index.save(sidecar)

    start = time.perf_counter()
    index = KeyframeIndex.load(sidecar)
    load_ms = (time.perf_counter() - start) * 1000

    rng = random.Random(3)
    seeks = []
    for _ in range(100):
        t = rng.uniform(0, duration)
        start = time.perf_counter()
        lines = index.seek(t, source).lines
        seeks.append((time.perf_counter() - start) * 1000)
        assert len(lines) >= 24
    return {
        "recording_mb": round(recording_size / MB, 1),
        "duration_s": round(duration),
        "keyframes": len(index.keyframes),
        "build_s": round(build_s, 1),
        "build_mb_s": round(recording_size / build_s / MB, 2),
        "sidecar_load_ms": round(load_ms, 1),
        "seek_median_ms": round(statistics.median(seeks), 1),
        "seek_worst_ms": round(max(seeks), 1),
        "keyframe_bytes": sidecar.stat().st_size,
        "keyframe_overhead_pct": round(sidecar.stat().st_size / recording_size * 100, 2),
    }


def _shown(lines: list[str]) -> list[str]:
    return [unicodedata.normalize("NFC", line).rstrip() for line in lines]


def bench_fidelity(workdir: Path) -> dict[str, list[int]]:
    """[screens equal to tmux's, cases] per source, and overall."""
    sources: dict[str, list[tuple[bytes, int, int]]] = {
        "corpus": [(f.read_bytes(), 80, 24) for f in sorted(CORPUS.glob("*.input"))],
        "programs": [(o.data, o.cols, o.rows) for o in record_programs(workdir).values()],
        "generated": [(d, *GENERATED_SIZE) for d in fidelity_streams()],
    }
    if not sources["corpus"]:
        raise SystemExit(f"no captured corpus in {CORPUS}")
    scores: dict[str, list[int]] = {}
    with ReferenceTerminal() as tmux:
        for source, cases in sources.items():
            equal = 0
            for data, cols, rows in cases:
                term = Terminal(cols, rows)
                term.feed(data)
                # As capture-pane writes a screen: each cell's text, without
                # the right halves of wide characters (even orphaned ones).
                ours = ["".join(c.data for c in term.row(y)) for y in range(rows)]
                equal += _shown(ours) == _shown(tmux.screen(data, cols, rows))
            scores[source] = [equal, len(cases)]
    scores["all"] = [sum(s[0] for s in scores.values()), sum(s[1] for s in scores.values())]
    return scores


def fidelity_line(fid: dict[str, list[int]]) -> str:
    return (
        f"{fid['all'][0]} of {fid['all'][1]} screens equal tmux's (pyte's captured corpus "
        f"{fid['corpus'][0]}/{fid['corpus'][1]}, recorded programs "
        f"{fid['programs'][0]}/{fid['programs'][1]}, generated streams "
        f"{fid['generated'][0]}/{fid['generated'][1]})"
    )


def markdown(
    tp: dict[str, float | str],
    seek: dict[str, float],
    fid: dict[str, list[int]],
    machine: dict[str, float],
) -> str:
    stock_note = (
        f" (stock pyte measured on the first {tp['stock_stream_mb']} MB of the same stream)"
        if tp["stock_stream_mb"] != tp["stream_mb"]
        else ""
    )
    versions = f"Python {platform.python_version()}, pyte {pyte_version()}"
    every_kib = DEFAULT_EVERY_BYTES // 1024
    return f"""{SECTION}

(`.venv/bin/python bench/bench_emulator.py`; {versions}; 1-minute load average
{machine["load_start"]:.1f} at the start and {machine["load_end"]:.1f} at the end on
{machine["cpus"]:.0f} CPUs: figures in MB/s and ms move with it, the ratio less.)

Stream: {tp["stream_mb"]} MB of generated mixed output (shell listings with colours and
titles, logs, a vim-like redraw with 256 and true colours on the alternate screen, top-like
refreshes, UTF-8 CJK/box drawing/emoji) fed in 4 KiB chunks{stock_note}; throughput is
CPU time, the two emulators taking turns a megabyte at a time so that other work on the
machine slows both alike.

| Figure | Measured | Target |
|---|---|---|
| Emulator throughput (`auditor.replay.emulator.Terminal`) | {tp["auditor_mb_s"]} MB/s | |
| Stock pyte (`Screen` + `ByteStream`), same run | {tp["stock_mb_s"]} MB/s | |
| Ratio | {tp["ratio"]}x | at least {THROUGHPUT_TARGET:.0f}x |
| Seek, median of 100 random moments | {seek["seek_median_ms"]} ms | under {SEEK_TARGET_MS:.0f} ms |
| Seek, worst of 100 | {seek["seek_worst_ms"]} ms | under {SEEK_TARGET_MS:.0f} ms |
| Keyframe storage / recording size | {seek["keyframe_overhead_pct"]} % | |
| Fidelity: screens equal to tmux's | {fid["all"][0]} of {fid["all"][1]} | |

Seek: a {seek["recording_mb"]} MB recording ({seek["duration_s"]} s of 4 KiB writes every
50 ms, with resizes, flushed once a second as the proxy does) written with
`RecordingWriter`; {seek["keyframes"]} keyframes (one per {every_kib} KiB
of output) built in {seek["build_s"]} s ({seek["build_mb_s"]} MB/s, off the proxy's path) into a
{seek["keyframe_bytes"] / 1e6:.2f} MB sidecar, loaded in {seek["sidecar_load_ms"]} ms. A seek is
restoring the keyframe at or before the moment, re-emulating the records after it read from
the recording file (`auditor.recording`'s reader, tags checked) and rendering the screen's
lines.

Fidelity: {fidelity_line(fid)}; before issue 10 (commit 31dc8dc) the same
cases scored {BEFORE_ISSUE_10}. Each case is fed to `Terminal` and to
tmux (a private server, `tests/harness/reference_terminal.py`) and the screens are compared
as text, line by line. The programs are `ls --color`, vi and less on a file, a man-like page,
`top -b` and interactive top, and a shell echoing a long line, recorded under a pty
(`tests/harness/programs.py`), on screen mid-program and at the end; the generated streams
(`bench/ansi_corpus.py`, {GENERATED_SIZE[0]}x{GENERATED_SIZE[1]}) mix colon SGR, scrolling
regions with SU/SD, saved cursors with charsets and origin mode, line drawing, REP,
insert/delete and wide characters.
"""


def pyte_version() -> str:
    from importlib.metadata import version

    return version("pyte")


def write_section(doc: Path, section: str) -> None:
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        tail = "" if end < 0 else text[end + 1 :]
        text = text[:start] + section + ("\n" + tail if tail else "")
    doc.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=20, help="throughput stream size")
    parser.add_argument(
        "--stock-mb", type=float, default=20, help="stock pyte measured on this much of it"
    )
    parser.add_argument("--recording-mb", type=float, default=100, help="seek recording size")
    parser.add_argument("--no-docs", action="store_true", help="don't update docs/benchmarks.md")
    parser.add_argument(
        "--docs-only", action="store_true", help="rewrite the docs from bench/out/emulator.json"
    )
    parser.add_argument(
        "--fidelity-only", action="store_true", help="only compare screens with tmux's"
    )
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    if args.docs_only:
        figures = json.loads((out / "emulator.json").read_text())
        write_section(
            ROOT / "docs" / "benchmarks.md",
            markdown(
                figures["throughput"], figures["seek"], figures["fidelity"], figures["machine"]
            ),
        )
        return
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        fid = bench_fidelity(Path(tmp))
    print(f"fidelity: {fidelity_line(fid)}", flush=True)
    if args.fidelity_only:
        return

    tp = bench_throughput(args.mb, min(args.stock_mb, args.mb))
    print(
        f"emulator: {tp['auditor_mb_s']} MB/s on {tp['stream_mb']} MB; stock pyte "
        f"{tp['stock_mb_s']} MB/s on {tp['stock_stream_mb']} MB; "
        f"{tp['ratio']}x (target {THROUGHPUT_TARGET:.0f}x)",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        seek = bench_seek(args.recording_mb, Path(tmp))
    print(
        f"keyframes: {seek['keyframes']} built in {seek['build_s']} s over "
        f"{seek['recording_mb']} MB; sidecar {seek['keyframe_bytes']} bytes "
        f"= {seek['keyframe_overhead_pct']} % of the recording"
    )
    print(
        f"seek: median {seek['seek_median_ms']} ms, worst {seek['seek_worst_ms']} ms "
        f"(target under {SEEK_TARGET_MS:.0f} ms)"
    )
    out.mkdir(parents=True, exist_ok=True)
    machine = {"load_start": load_start, "load_end": os.getloadavg()[0], "cpus": os.cpu_count()}
    figures = {"throughput": tp, "seek": seek, "fidelity": fid, "machine": machine}
    (out / "emulator.json").write_text(json.dumps(figures, indent=2))
    if not args.no_docs:
        write_section(ROOT / "docs" / "benchmarks.md", markdown(tp, seek, fid, machine))


if __name__ == "__main__":
    main()
