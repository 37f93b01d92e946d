"""Search at fleet scale on PostgreSQL beside SQLite (issue 12): same sessions, same run.

  .venv/bin/python bench/bench_fleet_search.py [--sessions 100000] [--text-kb 5] [--runs 25]
      [--postgres postgresql://USER:PASSWORD@HOST:PORT/EMPTY_DATABASE]

Target: a search answers in under 100 ms at 100,000 sessions on either engine.

Both indexes get the same sessions, built once per session from a seeded
generator: shell sessions (coloured prompts, ``ls -l``, ``journalctl`` and
application logs, ``kubectl``, ``systemctl status``, ``git log``, ``curl``,
``grep`` output) whose log messages draw on a 60,000-word Zipf vocabulary, so
the text has very common words (``error`` in nearly every session), a long
tail of rare ones, a planted rare word (``quixotically``, in 20 sessions), a
prefix (``foo*``: ``foobar``, ``footprint``, ...) and a phrase
(``connection-refused``, as ``curl``, ``psql`` and ``ssh`` print it).
Everything goes in through ``SessionIndex``: ``start_session`` for the row,
``store_text`` for the text (escape sequences stripped by the extractor's own
``TerminalText``, cut into rows of whole lines as the extractor cuts them,
without writing recordings), ``store_commands`` for the commands typed at the
prompts. Both load 500 sessions per transaction (``index.transaction()``,
as bench_store.py does), then PostgreSQL gets ``ANALYZE``, as autovacuum
would after a load this size.

Without ``--postgres`` a throwaway server is started from Debian's package
(``tests/harness/postgres.py``: default settings, fsync off), in a temp dir.

Then the same queries on both, one engine after the other within each
round so both see the same machine: ``search`` (a page of 50) and
``sessions(search=...)`` (100), plain and with ``user``/``node``/``since``
filters, and ``commands(search=...)``. Per query and engine: the first
(cold) call, then the median, p95 and worst of ``--runs`` more, the hits
found, and p95 against the 100 ms target; whether both engines found the same
sessions. Prints a table and writes bench/out/fleet_search.json.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from auditor.index import SessionIndex  # noqa: E402
from auditor.index.rows import CommandRow  # noqa: E402
from auditor.recording.text import TerminalText  # noqa: E402
from auditor.upkeep.text_extraction import CHUNK_CHARS  # noqa: E402

TARGET_MS = 100.0
DAY = 86400.0
SPAN = 90 * DAY  # the sessions' starts spread over the last 90 days
BATCH = 500
USERS = 50
NODES = 200
RARE = "quixotically"
RARE_SESSIONS = 20
COMMON = "error"
PREFIX = "foo*"
PHRASE = "connection-refused"
TOKEN = re.compile(r"[^\W_]+")  # as auditor.index.terms tokenizes

SERVICES = ["nginx", "postgresql", "redis", "sshd", "docker", "kubelet", "cron", "haproxy"]
DIRS = ["/etc", "/var/log", "/srv/app", "/opt/deploy", "/home/joe", "/var/lib/docker"]
LEVELS = ["INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR", "error"]
FOO = ["foobar", "foo", "footprint", "foobaz", "foolproof", "footer"]
COMMON_WORDS = [
    "error", "warning", "failed", "started", "stopped", "listening", "connection", "accepted",
    "closed", "timeout", "retry", "request", "response", "user", "session", "backup", "deploy",
    "release", "config", "the", "to", "from", "on", "with", "for", "in",
]  # fmt: skip
REFUSED = [
    "curl: (7) Failed to connect to {host} port 443 after 2 ms: Connection refused",
    'psql: error: connection to server at "{host}", port 5432 failed: Connection refused',
    "ssh: connect to host {host} port 22: Connection refused",
]


def vocabulary(rng: random.Random) -> tuple[list[str], list[float]]:
    """Random words with Zipf weights (as bench_store.py): a long tail of rare words."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(60_000)]
    words = [w for w in words if w != RARE and not w.startswith("foo")]
    cum, total = [], 0.0
    for i in range(len(words)):
        total += 1.0 / (i + 1)
        cum.append(total)
    return words, cum


@dataclass
class Block:
    """One command typed at a prompt and what it printed (raw, with escapes), and
    the same output stripped as the index stores it."""

    command: str
    raw: str
    text: str = ""
    seconds: float = 1.0


class Shell:
    """Makes blocks of shell output; ``pool`` makes many once, sessions sample them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.words, self.cum = vocabulary(rng)

    def message(self, n: int) -> str:
        rng = self.rng
        zipf = rng.choices(self.words, cum_weights=self.cum, k=n)
        common = rng.choices(COMMON_WORDS, k=max(1, n // 3))
        mixed = zipf + common
        rng.shuffle(mixed)
        return " ".join(mixed)

    def stamp(self) -> str:
        r = self.rng
        day, hour, minute, second = (
            r.randint(1, 27),
            r.randint(0, 23),
            r.randint(0, 59),
            r.randint(0, 59),
        )
        return f"2026-11-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"

    def ls(self) -> Block:
        r = self.rng
        where = f"{r.choice(DIRS)}/{r.choice(self.words[:2000])}"
        lines = [f"total {r.randint(8, 900)}"]
        for _ in range(r.randint(4, 25)):
            colour = r.choice(["01;34", "01;32", "00", "01;36", "38;5;208", "01;31"])
            name = r.choice(self.words[:5000]) + r.choice([".conf", ".log", ".py", ".yaml", ""])
            if r.random() < 0.03:
                name = r.choice(FOO) + ".conf"
            lines.append(
                f"-rw-r--r-- 1 joe joe {r.randint(0, 999999):7d} Nov {r.randint(1, 27):2d} "
                f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d} \x1b[{colour}m{name}\x1b[0m"
            )
        return Block(f"ls -l {where}", "\r\n".join(lines) + "\r\n")

    def journal(self) -> Block:
        r = self.rng
        unit = r.choice(SERVICES)
        lines = []
        for _ in range(r.randint(8, 40)):
            level = r.choice(LEVELS)
            colour = (
                "\x1b[1;31m"
                if level.lower() == "error"
                else "\x1b[0;33m"
                if level == "WARN"
                else ""
            )
            lines.append(
                f"Nov {self.stamp()[8:].replace('T', ' ')} node{r.randint(1, NODES)} "
                f"{unit}[{r.randint(100, 65000)}]: {colour}{level}: "
                f"{self.message(r.randint(4, 12))}\x1b[0m"
            )
        return Block(f"journalctl -u {unit} --since today", "\r\n".join(lines) + "\r\n", seconds=2)

    def app_log(self) -> Block:
        r = self.rng
        name = r.choice(["app", "worker", "api", "billing", "ingest"])
        lines = [
            f"{self.stamp()} {r.choice(LEVELS)} [{name}] {self.message(r.randint(5, 14))}"
            for _ in range(r.randint(10, 40))
        ]
        if r.random() < 0.05:
            lines.insert(r.randrange(len(lines)), f"{self.stamp()} WARN [{name}] {r.choice(FOO)}: "
                         f"{self.message(4)}")  # fmt: skip
        return Block(f"tail -n 40 /var/log/{name}.log", "\r\n".join(lines) + "\r\n")

    def kubectl(self) -> Block:
        r = self.rng
        ns = r.choice(["default", "payments", "ingest", "monitoring", "kube-system"])
        lines = ["NAME                                  READY   STATUS    RESTARTS   AGE"]
        for _ in range(r.randint(3, 15)):
            pod = f"{r.choice(self.words[:3000])}-{r.getrandbits(40):010x}"[:36]
            status = r.choice(["Running"] * 8 + ["CrashLoopBackOff", "Pending", "Error"])
            lines.append(
                f"{pod:<37} 1/1     {status:<9} {r.randint(0, 40):<10} {r.randint(1, 90)}d"
            )
        return Block(f"kubectl get pods -n {ns}", "\r\n".join(lines) + "\r\n")

    def systemctl(self) -> Block:
        r = self.rng
        unit = r.choice(SERVICES)
        state = r.choice(
            ["\x1b[0;1;32mactive (running)\x1b[0m"] * 4 + ["\x1b[0;1;31mfailed\x1b[0m"]
        )
        lines = [
            f"\x1b[0;1;32m●\x1b[0m {unit}.service - {unit} server",
            f"     Loaded: loaded (/lib/systemd/system/{unit}.service; enabled)",
            f"     Active: {state} since {self.stamp()}; {r.randint(1, 30)} days ago",
            f"   Main PID: {r.randint(100, 65000)} ({unit})",
        ] + [
            f"{self.stamp()} node {unit}[{r.randint(100, 65000)}]: {self.message(6)}"
            for _ in range(5)
        ]
        return Block(f"systemctl status {unit}", "\r\n".join(lines) + "\r\n")

    def git_log(self) -> Block:
        r = self.rng
        lines = [
            f"\x1b[33m{r.getrandbits(28):07x}\x1b[m {r.choice(['Fix', 'Add', 'Bump', 'Revert'])} "
            f"{self.message(r.randint(3, 8))}"
            for _ in range(r.randint(5, 20))
        ]
        return Block("git log --oneline -20", "\r\n".join(lines) + "\r\n")

    def refused(self) -> Block:
        r = self.rng
        host = f"db{r.randint(1, 40)}.example.com"
        line = r.choice(REFUSED).format(host=host)
        command = {
            "c": f"curl -sS https://{host}/health",
            "p": f"psql -h {host} app",
            "s": f"ssh {host}",
        }
        return Block(command[line[0]], line + "\r\n")

    def grep(self) -> Block:
        r = self.rng
        word = r.choice(self.words[:500])
        lines = [
            f"\x1b[35m{r.choice(DIRS)}/{r.choice(self.words[:3000])}.conf\x1b[m:"
            f"\x1b[32m{r.randint(1, 400)}\x1b[m: {self.message(3)} \x1b[01;31m{word}\x1b[m "
            f"{self.message(2)}"
            for _ in range(r.randint(1, 12))
        ]
        return Block(f"grep -rn {word} /etc", "\r\n".join(lines) + "\r\n")

    KINDS: list[tuple[str, int]] = [
        ("ls", 20), ("journal", 18), ("app_log", 18), ("kubectl", 10), ("systemctl", 10),
        ("git_log", 8), ("grep", 10), ("refused", 2),
    ]  # fmt: skip

    def pool(self, n: int) -> list[Block]:
        makers = [getattr(self, k) for k, _ in self.KINDS]
        weights = [w for _, w in self.KINDS]
        blocks = [self.rng.choices(makers, weights)[0]() for _ in range(n)]
        for b in blocks:
            b.text = stripped(b.raw)
        return blocks


def stripped(raw: str) -> str:
    text = TerminalText()
    return text.feed(raw.encode()) + text.finish()


@dataclass
class Generated:
    """One session as both indexes get it."""

    id: str
    fields: dict[str, Any]
    rows: list[tuple[float, str]]
    commands: list[CommandRow]
    chars: int
    words: set[str] = field(default_factory=set)  # of the single-word queries, those it holds


PROMPT = "\x1b[01;32mjoe@{node}\x1b[00m:\x1b[01;34m~\x1b[00m$ "


def sessions(
    pool: list[Block], flags: list[set[str]], n: int, text_kb: float
) -> Iterator[Generated]:
    """The same ``n`` sessions every time: a seeded generator per session."""
    rare = set(random.Random(11).sample(range(n), min(RARE_SESSIONS, n)))
    now = time.time()
    for i in range(n):
        rng = random.Random(12_000_036 + i)  # the same session i on every run
        sid = f"{rng.getrandbits(128):032x}"
        user, node = f"user{rng.randrange(USERS)}", f"node{rng.randrange(NODES)}.example.com"
        start = now - SPAN + SPAN * i / n
        budget = text_kb * 1000 * rng.uniform(0.5, 1.5)
        prompt = PROMPT.format(node=node.split(".")[0])
        shown = stripped(prompt)
        t, size = 0.0, 0
        lines: list[tuple[float, str]] = []
        commands: list[CommandRow] = []
        held: set[str] = set()
        while size < budget:
            k = rng.randrange(len(pool))
            block = pool[k]
            held |= flags[k]
            t += rng.uniform(2, 30)
            commands.append(CommandRow(sid, t, start + t, block.command, shown, user, "root", node))
            piece = f"{shown}{block.command}\n{block.text}"
            lines.append((t, piece))
            size += len(piece)
            t += block.seconds
        if i in rare:
            t += rng.uniform(2, 30)
            command = f"grep -rn {RARE} /srv/app"
            commands.append(CommandRow(sid, t, start + t, command, shown, user, "root", node))
            lines.append((t, f"{shown}{command}\n/srv/app/notes.txt:12: {RARE} so, then paused\n"))
            t += 1
            held.add(RARE)
        fields = dict(
            start=start, end=start + t + 1, user=user, login="root", node=node, port=22,
            kind="session", client_addr="10.1.2.3:50000", bytes_out=size, exit_status=0,
            recording_path=None,
        )  # fmt: skip
        yield Generated(sid, fields, cut_rows(lines), commands, size, held)


def cut_rows(pieces: list[tuple[float, str]]) -> list[tuple[float, str]]:
    """Whole lines into rows of about CHUNK_CHARS, each at the time it starts (as
    ``auditor.upkeep.text_extraction`` cuts a recording's text)."""
    rows: list[tuple[float, str]] = []
    parts: list[str] = []
    size, start = 0, None
    for t, piece in pieces:
        start = t if start is None else start
        parts.append(piece)
        size += len(piece)
        if size >= CHUNK_CHARS:
            rows.append((start, "".join(parts)))
            parts, size, start = [], 0, None
    if parts:
        rows.append((start or 0.0, "".join(parts)))
    return rows


def block_flags(pool: list[Block]) -> list[set[str]]:
    """Which single-word queries each block matches (so the bench knows how many
    sessions each should find without asking either engine)."""
    out = []
    for b in pool:
        toks = TOKEN.findall(f"{b.command}\n{b.text}".lower())  # the ASCII words that matter
        have = set()
        if COMMON in toks:
            have.add(COMMON)
        if any(t.startswith(PREFIX.rstrip("*")) for t in toks):
            have.add(PREFIX)
        if any(pair == ("connection", "refused") for pair in itertools.pairwise(toks)):
            have.add(PHRASE)
        out.append(have)
    return out


def load(index: SessionIndex, s: Generated) -> None:
    # Not insert_ended, which reads the text from a recording: a row inserted as
    # ended, then its text, is what an import of new sessions amounts to.
    index.start_session(s.id, status="ended", **s.fields)
    state = index.text_state(s.id)
    assert state is not None
    if not index.store_text(s.id, state.offset, replace(state, done=True), s.rows):
        raise RuntimeError(f"session {s.id}: text not stored")
    index.store_commands(s.id, s.commands)


def batch(index: SessionIndex) -> contextlib.AbstractContextManager[Any]:
    """A transaction around a batch (both engines offer one)."""
    transaction = getattr(index, "transaction", None)
    return transaction() if transaction is not None else contextlib.nullcontext()


@dataclass
class Built:
    sessions: int = 0
    chars: int = 0
    text_rows: int = 0
    commands: int = 0
    generate_s: float = 0.0
    load_s: dict[str, float] = field(default_factory=dict)
    holding: dict[str, int] = field(default_factory=dict)  # sessions holding each word
    rare_users: list[str] = field(default_factory=list)


def build(indexes: dict[str, SessionIndex], n: int, text_kb: float, pool_size: int) -> Built:
    built = Built(load_s={name: 0.0 for name in indexes})
    t0 = time.perf_counter()
    pool = Shell(random.Random(7)).pool(pool_size)
    flags = block_flags(pool)
    built.generate_s += time.perf_counter() - t0
    made = sessions(pool, flags, n, text_kb)
    last = time.perf_counter()
    for first in range(0, n, BATCH):
        t0 = time.perf_counter()
        chunk = [next(made) for _ in range(min(BATCH, n - first))]
        built.generate_s += time.perf_counter() - t0
        for s in chunk:
            built.sessions += 1
            built.chars += s.chars
            built.text_rows += len(s.rows)
            built.commands += len(s.commands)
            for w in s.words:
                built.holding[w] = built.holding.get(w, 0) + 1
            if RARE in s.words:
                built.rare_users.append(str(s.fields["user"]))
        for name, index in indexes.items():
            t0 = time.perf_counter()
            with batch(index):
                for s in chunk:
                    load(index, s)
            built.load_s[name] += time.perf_counter() - t0
        if built.sessions % 10_000 == 0 or built.sessions == n or time.perf_counter() - last > 60:
            last = time.perf_counter()
            loads = ", ".join(f"{k} {v:.0f} s" for k, v in built.load_s.items())
            print(
                f"  {built.sessions:>7,} sessions, {built.chars / 1e6:7.1f} MB of text "
                f"(generating {built.generate_s:.0f} s, loading {loads})",
                flush=True,
            )
    return built


@dataclass(frozen=True)
class Query:
    call: str  # search | sessions | commands
    q: str
    filters: tuple[tuple[str, Any], ...] = ()

    def label(self) -> str:
        extra = "".join(f" --{k} {v if k != 'since' else 'last 2 days'}" for k, v in self.filters)
        return f"{self.call} {self.q!r}{extra}"

    def run(self, index: SessionIndex) -> list[str]:
        kw = dict(self.filters)
        if self.call == "search":
            return [h.session.id for h in index.search(self.q, limit=50, **kw)]
        if self.call == "sessions":
            return [s.id for s in index.sessions(search=self.q, limit=100, **kw)]
        return [f"{c.session_id}:{c.t}" for c in index.commands(search=self.q, limit=100, **kw)]


def queries(built: Built) -> list[Query]:
    since = (("since", time.time() - 2 * DAY),)
    rare_user = (("user", built.rare_users[0]),) if built.rare_users else (("user", "user7"),)
    user, node = (("user", "user7"),), (("node", "node3.example.com"),)
    out = []
    for call in ("search", "sessions"):
        out += [
            Query(call, RARE),
            Query(call, COMMON),
            Query(call, PREFIX),
            Query(call, PHRASE),
            Query(call, "nginx timeout"),
            Query(call, RARE, rare_user),
            Query(call, COMMON, user),
            Query(call, COMMON, node),
            Query(call, PREFIX, since),
            Query(call, PHRASE, user),
        ]
    out += [
        Query("commands", RARE),
        Query("commands", "journalctl"),
        Query("commands", "kubectl get"),
        Query("commands", "/var/log/api.log"),
        Query("commands", "postgres*", user),
        Query("commands", "nginx", node),
    ]
    return out


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def time_queries(
    indexes: dict[str, SessionIndex], qs: list[Query], runs: int
) -> list[dict[str, Any]]:
    results = []
    for query in qs:
        found: dict[str, list[str]] = {}
        times: dict[str, list[float]] = {name: [] for name in indexes}
        first: dict[str, float] = {}
        for name, index in indexes.items():  # the first (cold) call of each
            t0 = time.perf_counter()
            found[name] = query.run(index)
            first[name] = (time.perf_counter() - t0) * 1000
        for _ in range(runs):  # then rounds, one engine after the other in each
            for name, index in indexes.items():
                t0 = time.perf_counter()
                query.run(index)
                times[name].append((time.perf_counter() - t0) * 1000)
        row: dict[str, Any] = {"query": query.label(), "call": query.call, "q": query.q}
        for name in indexes:
            ms = times[name]
            row[name] = {
                "first_ms": round(first[name], 2),
                "median_ms": round(statistics.median(ms), 2),
                "p95_ms": round(p95(ms), 2),
                "worst_ms": round(max(ms), 2),
                "found": len(found[name]),
                "p95_of_target": round(p95(ms) / TARGET_MS, 3),
            }
        lists = list(found.values())
        row["same_results"] = all(x == lists[0] for x in lists)
        row["same_set"] = all(set(x) == set(lists[0]) for x in lists)
        results.append(row)
        print_row(row, list(indexes))
    return results


def print_row(row: dict[str, Any], engines: list[str]) -> None:
    same = "same" if row["same_results"] else ("same set" if row["same_set"] else "DIFFER")
    for k, name in enumerate(engines):
        r = row[name]
        label = row["query"] if k == 0 else ""
        print(
            f"  {label:<52.52} {name:<10} {r['first_ms']:8.1f} {r['median_ms']:8.1f} "
            f"{r['p95_ms']:8.1f} {r['worst_ms']:8.1f} {r['found']:6} {r['p95_of_target']:8.2f}"
            + (f"  {same}" if k == len(engines) - 1 else ""),
            flush=True,
        )


@contextlib.contextmanager
def postgres_database(uri: str | None) -> Iterator[tuple[str, str]]:
    """A URI of an empty database, and where it came from."""
    if uri:
        yield uri, "given"
        return
    from tests.harness.postgres import PostgresServer

    server = PostgresServer.start()
    try:
        name = server.new_database()
        yield (
            server.uri(name),
            f"throwaway server (tests/harness/postgres.py) on port {server.port}",
        )
    finally:
        server.stop()


def postgres_facts(uri: str, analyze: bool) -> dict[str, Any]:
    """ANALYZE after the load (what autovacuum does for a table this new), and sizes.
    Maintenance a DBA's tools run, not the application: its own connection."""
    with psycopg.connect(uri, autocommit=True) as conn:
        t0 = time.perf_counter()
        if analyze:
            conn.execute("ANALYZE")
        took = time.perf_counter() - t0

        def one(sql: str) -> Any:
            return conn.execute(sql).fetchall()[0][0]

        version = one("SHOW server_version")
        size = one("SELECT pg_database_size(current_database())")
        buffers = one("SHOW shared_buffers")
    return {"version": version, "db_mb": round(size / 1e6, 1), "analyze_s": round(took, 1),
            "shared_buffers": buffers}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--text-kb", type=float, default=5.0, help="average text per session (5)")
    ap.add_argument("--runs", type=int, default=25, help="timed calls per query and engine (25)")
    ap.add_argument("--pool", type=int, default=20_000, help="distinct command outputs (20000)")
    ap.add_argument("--postgres", metavar="URI", help="an empty database on a server of yours")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "fleet_search.json")
    args = ap.parse_args()

    print(
        f"machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}"
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="auditor-bench-fleet-") as tmp,
        postgres_database(args.postgres) as (pg_uri, pg_where),
    ):
        print(f"postgresql: {pg_where}")
        data_dir = Path(tmp)
        indexes: dict[str, SessionIndex] = {
            "sqlite": SessionIndex.open(data_dir),
            "postgresql": SessionIndex.open(data_dir, uri=pg_uri),
        }
        try:
            print(f"building {args.sessions:,} sessions, about {args.text_kb:g} KB of text each")
            built = build(indexes, args.sessions, args.text_kb, args.pool)
            pg = postgres_facts(pg_uri, analyze=True)
            sqlite_mb = sum(p.stat().st_size for p in data_dir.glob("index.db*")) / 1e6
            build_s = time.perf_counter() - started
            print(
                f"built in {build_s:.0f} s: generating {built.generate_s:.0f} s, "
                + ", ".join(f"{k} {v:.0f} s" for k, v in built.load_s.items())
                + f", ANALYZE {pg['analyze_s']:.1f} s; {built.chars / 1e6:.1f} MB of text in "
                f"{built.text_rows:,} rows, {built.commands:,} commands; index.db "
                f"{sqlite_mb:.0f} MB, PostgreSQL {pg['version']} database {pg['db_mb']:.0f} MB "
                f"(shared_buffers {pg['shared_buffers']})"
            )
            print(
                "sessions holding: "
                + ", ".join(
                    f"{w!r} {built.holding.get(w, 0):,}" for w in (RARE, COMMON, PREFIX, PHRASE)
                )
                + f" of {built.sessions:,}"
            )
            print(
                f"\n  {'query':<52} {'engine':<10} {'first':>8} {'median':>8} {'p95':>8} "
                f"{'worst':>8} {'found':>6} {'p95/100ms':>8}  (ms; {args.runs} runs each)"
            )
            results = time_queries(indexes, queries(built), args.runs)
        finally:
            for index in indexes.values():
                index.close()
    summary: dict[str, Any] = {}
    for name in indexes:
        worst = max(results, key=lambda r: r[name]["p95_ms"])
        summary[name] = {
            "worst_p95_ms": worst[name]["p95_ms"],
            "worst_query": worst["query"],
            "queries_over_target": sum(1 for r in results if r[name]["p95_ms"] >= TARGET_MS),
        }
        print(
            f"{name}: worst p95 {worst[name]['p95_ms']:.1f} ms ({worst['query']}); "
            f"{summary[name]['queries_over_target']} of {len(results)} queries at or over "
            f"{TARGET_MS:.0f} ms"
        )
    differ = [r["query"] for r in results if not r["same_set"]]
    if differ:
        print(f"engines found different sessions for: {'; '.join(differ)}")
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version, "postgresql": pg["version"]},
        "postgresql_server": pg_where.split(" on port")[0],
        "postgresql_shared_buffers": pg["shared_buffers"],
        "sessions": built.sessions,
        "text_mb": round(built.chars / 1e6, 1),
        "text_rows": built.text_rows,
        "commands": built.commands,
        "holding": built.holding,
        "build_s": {"total": round(build_s, 1), "generate": round(built.generate_s, 1),
                    **{k: round(v, 1) for k, v in built.load_s.items()},
                    "analyze": pg["analyze_s"]},
        "sizes_mb": {"sqlite": round(sqlite_mb, 1), "postgresql": pg["db_mb"]},
        "runs": args.runs,
        "target_ms": TARGET_MS,
        "queries": results,
        "summary": summary,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    met = all(s["queries_over_target"] == 0 for s in summary.values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
