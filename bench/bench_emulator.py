"""Terminal emulator and seek benchmarks (issue 5).

  .venv/bin/python bench/bench_emulator.py [--mb 20] [--stock-mb 20] [--recording-mb 100]

- Emulator throughput on a generated mixed ANSI stream (shell, logs, a
  vim-like redraw on the alternate screen, top-like refreshes, UTF-8), fed
  in 4 KiB chunks as a recording stores them, against stock pyte
  (``pyte.Screen`` + ``pyte.ByteStream``) in the same run.
- Seek: a recording of that stream written with ``RecordingWriter``, keyframes built and
  saved to a sidecar, then the time to show the screen at 100 random
  moments (restore the keyframe, re-emulate from it, render the lines).
- Keyframe storage as a fraction of the recording's size.

Prints each figure with its target and writes them to bench/out/emulator.json
and the "Terminal emulator and seek" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
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
from bench.ansi_corpus import chunks  # noqa: E402

MB = 1_000_000
SECTION = "## Terminal emulator and seek"
THROUGHPUT_TARGET = 3.0  # x stock pyte
SEEK_TARGET_MS = 100.0


def throughput(data: list[bytes], feed_factory: str) -> float:
    """Seconds to feed every chunk."""
    if feed_factory == "auditor":
        feed = Terminal(80, 24).feed
    else:
        feed = pyte.ByteStream(pyte.Screen(80, 24)).feed
    start = time.perf_counter()
    for chunk in data:
        feed(chunk)
    return time.perf_counter() - start


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
    data = list(chunks(int(mb * MB)))
    size = sum(map(len, data))
    ours = throughput(data, "auditor")
    stock_data = data
    if stock_mb < mb:
        stock_data, taken = [], 0
        for chunk in data:
            if taken >= stock_mb * MB:
                break
            stock_data.append(chunk)
            taken += len(chunk)
    stock_size = sum(map(len, stock_data))
    stock = throughput(stock_data, "stock")
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


def markdown(tp: dict[str, float | str], seek: dict[str, float]) -> str:
    stock_note = (
        f" (stock pyte measured on the first {tp['stock_stream_mb']} MB of the same stream)"
        if tp["stock_stream_mb"] != tp["stream_mb"]
        else ""
    )
    versions = f"Python {platform.python_version()}, pyte {pyte_version()}"
    every_kib = DEFAULT_EVERY_BYTES // 1024
    return f"""{SECTION}

(`.venv/bin/python bench/bench_emulator.py`; {versions}.)

Stream: {tp["stream_mb"]} MB of generated mixed output (shell listings with colours and
titles, logs, a vim-like redraw with 256 and true colours on the alternate screen, top-like
refreshes, UTF-8 CJK/box drawing/emoji) fed in 4 KiB chunks{stock_note}.

| Figure | Measured | Target |
|---|---|---|
| Emulator throughput (`auditor.replay.emulator.Terminal`) | {tp["auditor_mb_s"]} MB/s | |
| Stock pyte (`Screen` + `ByteStream`), same run | {tp["stock_mb_s"]} MB/s | |
| Ratio | {tp["ratio"]}x | at least {THROUGHPUT_TARGET:.0f}x |
| Seek, median of 100 random moments | {seek["seek_median_ms"]} ms | under {SEEK_TARGET_MS:.0f} ms |
| Seek, worst of 100 | {seek["seek_worst_ms"]} ms | under {SEEK_TARGET_MS:.0f} ms |
| Keyframe storage / recording size | {seek["keyframe_overhead_pct"]} % | |

Seek: a {seek["recording_mb"]} MB recording ({seek["duration_s"]} s of 4 KiB writes every
50 ms, with resizes, flushed once a second as the proxy does) written with
`RecordingWriter`; {seek["keyframes"]} keyframes (one per {every_kib} KiB
of output) built in {seek["build_s"]} s ({seek["build_mb_s"]} MB/s, off the proxy's path) into a
{seek["keyframe_bytes"] / 1e6:.2f} MB sidecar, loaded in {seek["sidecar_load_ms"]} ms. A seek is
restoring the keyframe at or before the moment, re-emulating the records after it read from
the recording file (`auditor.recording`'s reader, tags checked) and rendering the screen's
lines.
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
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    if args.docs_only:
        figures = json.loads((out / "emulator.json").read_text())
        write_section(
            ROOT / "docs" / "benchmarks.md", markdown(figures["throughput"], figures["seek"])
        )
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
    (out / "emulator.json").write_text(json.dumps({"throughput": tp, "seek": seek}, indent=2))
    if not args.no_docs:
        write_section(ROOT / "docs" / "benchmarks.md", markdown(tp, seek))


if __name__ == "__main__":
    main()
