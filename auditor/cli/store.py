"""``auditor sessions``, ``failures``, ``export``, ``import``, ``verify``."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from auditor.cli import verify
from auditor.cli.context import Context, common_options
from auditor.durations import parse_duration
from auditor.errors import AuditorError, UsageError
from auditor.index import FailureKind, SessionIndex
from auditor.index.rows import CommandRow, SearchHit, Session
from auditor.recording import RecordingReader
from auditor.sizes import format_size
from auditor.textsafe import visible


def register(sub: Any) -> None:
    common = common_options()
    p = sub.add_parser("sessions", help="list recorded sessions", parents=[common])
    p.add_argument("--live", action="store_true", help="only sessions in progress")
    p.add_argument("--search", metavar="Q", help="only sessions whose output has every word")
    p.add_argument("--user", metavar="U")
    p.add_argument("--node", metavar="N")
    p.add_argument("--since", metavar="T", help="a duration back (2h, 7d) or an ISO date")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--unreviewed", action="store_true", help="only sessions nobody reviewed")
    p.add_argument("--reviewed-by", metavar="USER", help="only sessions USER reviewed")
    p.add_argument("--held", action="store_true", help="only sessions held past retention")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(handler=cmd_sessions)

    p = sub.add_parser("failures", help="list failed connections and their fixes", parents=[common])
    p.add_argument("--kind", metavar="K", help=f"one of: {', '.join(k.value for k in FailureKind)}")
    p.add_argument("--since", metavar="T", help="a duration back (2h, 7d) or an ISO date")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(handler=cmd_failures)

    p = sub.add_parser(
        "export", help="a session as asciicast, plain text or an HTML page", parents=[common]
    )
    p.add_argument(
        "id",
        metavar="ID[@T]",
        help="session ID or a unique prefix; the whole session is exported, "
        "ID@T marks the moment (an asciicast marker)",
    )
    p.add_argument(
        "--format",
        required=True,
        choices=["asciicast", "asciicast-v3", "text", "html"],
        dest="fmt",
        help="asciicast is v2 (asciinema 2.x plays it), asciicast-v3 is asciinema 3's; "
        "html is one page with a player, the metadata, commands and signed anchor (offline)",
    )
    p.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--input", action="store_true", help="asciicast: include what was typed")
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser(
        "import", help="asciicast v1, v2 or v3 files into the index", parents=[common]
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "verify", help="check recordings' hash chains and signed anchors", parents=[common]
    )
    verify.add_arguments(p)
    p.set_defaults(handler=verify.cmd_verify)


@contextmanager
def _index(ctx: Context, write: bool = False) -> Iterator[SessionIndex]:
    index = ctx.open_index(write=write)
    try:
        yield index
    finally:
        index.close()


def parse_since(text: str | None, now: float | None = None) -> float | None:
    """``2h`` / ``7d`` back from now, or an ISO date or time (local unless it says)."""
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        pass
    try:
        return (now or time.time()) - parse_duration(text, "--since")
    except UsageError:
        raise UsageError(
            f"--since: expected a duration like 2h or 7d, or a date like 2024-05-01; got {text!r}"
        ) from None


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Columns for a terminal; logins, nodes, commands and messages are the
    audited side's, so their control characters are printed as escapes."""
    rows = [[visible(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r[:-1], widths[:-1], strict=True)]
        out.write("  ".join([*cells, r[-1]]).rstrip() + "\n")


def _duration(s: Session, now: float) -> str:
    seconds = int(s.duration(now))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}"


def _what(s: Session) -> str:
    what = s.command or s.kind or "shell"
    if s.terminated_by and not s.live:
        return f"{what} (terminated by {s.terminated_by}: {s.termination_reason})"
    if s.exit_signal:
        return f"{what} (signal {s.exit_signal})"
    if s.exit_status is not None:
        return f"{what} (exit {s.exit_status})"
    return what


def cmd_sessions(ctx: Context) -> int:
    from auditor.index.marks import MarkFilter
    from auditor.replay.moment import reference

    a = ctx.args
    since = parse_since(a.since)
    live = True if a.live else None
    marks = MarkFilter(a.unreviewed, a.reviewed_by, a.held)
    found: list[tuple[Session, SearchHit | None]]
    with _index(ctx) as index:
        if a.search:
            # Filtered by marks after the search: every match, then the first --limit kept.
            hits = index.search(
                a.search,
                live=live,
                user=a.user,
                node=a.node,
                since=since,
                limit=None if marks.any else a.limit,
            )
            if marks.any:
                kept = index.marked([h.session.id for h in hits], marks)
                hits = [h for h in hits if h.session.id in kept][: a.limit]
            found = [(h.session, h) for h in hits]
        elif marks.any:
            rows = index.marked_sessions(
                marks, live=live, user=a.user, node=a.node, since=since, limit=a.limit
            )
            found = [(s, None) for s in rows]
        else:
            rows = index.sessions(live=live, user=a.user, node=a.node, since=since, limit=a.limit)
            found = [(s, None) for s in rows]
        ids = [s.id for s, _ in found]
        reviews, holds = index.reviews(ids), index.holds(ids)
        views = index.views(ids) if a.json else {}
    if a.json:
        docs = []
        for s, hit in found:
            doc = s.to_json()
            if hit is not None:
                doc.update(match=hit.line, match_t=hit.t, moment=reference(s.id, hit.t))
            doc["reviews"] = [r.to_json() for r in reviews.get(s.id, [])]
            doc["hold"] = holds[s.id].to_json() if s.id in holds else None
            doc["viewed_by"] = [v.to_json() for v in views.get(s.id, [])]
            docs.append(doc)
        json.dump(docs, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not found:
        filtered = a.search or a.user or a.node or since or marks.any
        print("no sessions" + (" match" if filtered else ""))
        return 0
    now = time.time()
    # Reviews and holds get a column only when some session listed has one.
    marked = bool(reviews or holds)
    # IN: bytes from the user to the node; OUT: from the node to the user (as the app).
    table = [["ID", "START", "DURATION", "STATUS", "USER", "TARGET", "IN", "OUT", "COMMAND"]]
    if marked:
        table[0].insert(-1, "REVIEWED")
    if a.search:
        table[0] += ["AT", "MATCH"]
    for s, hit in found:
        target = f"{s.login or '?'}@{s.node}" if s.node else (s.login or "-")
        row = [
            s.id[:8],
            _when(s.start),
            _duration(s, now),
            s.status,
            s.user or "-",
            target,
            format_size(s.bytes_in),
            format_size(s.bytes_out),
            _what(s),
        ]
        if marked:
            who = ",".join(dict.fromkeys(r.reviewer for r in reviews.get(s.id, [])))
            cell = f"✓ {who}" if who else "-"
            row.insert(-1, cell + (" (held)" if s.id in holds else ""))
        if hit is not None:
            row += [reference(s.id, hit.t), hit.line]
        table.append(row)
    _table(table, sys.stdout)
    return 0


def cmd_failures(ctx: Context) -> int:
    a = ctx.args
    kind = None
    if a.kind:
        try:
            kind = FailureKind(a.kind)
        except ValueError:
            kinds = ", ".join(k.value for k in FailureKind)
            raise UsageError(f"--kind: unknown kind {a.kind!r}; expected one of: {kinds}") from None
    with _index(ctx) as index:
        found = index.failures(kind=kind, since=parse_since(a.since), limit=a.limit)
    if a.json:
        json.dump([f.to_json() for f in found], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no failures")
        return 0
    table = [["TIME", "KIND", "USER", "NODE", "RETRIES", "MESSAGE"]]
    for f in found:
        node = f"{f.node}:{f.port}" if f.node and f.port else (f.node or "-")
        table.append([_when(f.time), f.kind, f.user or "-", node, str(f.retries), f.message])
    _table(table, sys.stdout)
    print("\nremediation:")
    for k in dict.fromkeys(f.kind for f in found):
        print(visible(f"  {k}: {FailureKind(k).hint}"))
    return 0


def _reader(session: Session) -> RecordingReader:
    if session.recording is None:
        raise AuditorError(session.no_recording())
    return RecordingReader(session.recording)


def cmd_export(ctx: Context) -> int:
    # Here, not at the top: `auditor sessions` starts without the emulator.
    from auditor import oversight
    from auditor.recording.asciicast import write_asciicast
    from auditor.recording.shown import ShownOutput
    from auditor.replay.moment import check_within, parse_moment, reference, with_marker
    from auditor.replay.transcript import recording_transcript

    a = ctx.args
    moment = parse_moment(a.id)
    with _index(ctx) as index:
        session = index.get_session(moment.session)
        reader = _reader(session)
        t = moment.t
        if t is not None:
            t = check_within(t, reader.summary().duration, a.id)
        oversight.viewed(index, ctx.data_dir, session.id, "export", t)
        commands: list[CommandRow] = []
        if a.fmt == "html":
            from auditor.html_export.page import session_command_rows

            commands = session_command_rows(index, session)
    meta = {"login": session.login, "node": session.node, **reader.meta}
    if t is not None and a.fmt == "text":
        print(
            f"auditor: the text export is the whole session; {reference(session.id, t)} "
            "is marked only in asciicast",
            file=sys.stderr,
        )
    with _output(a.output) as out:
        if a.fmt in ("asciicast", "asciicast-v3"):
            version = 3 if a.fmt == "asciicast-v3" else 2
            records = reader.records()
            if t is not None:  # players show a marker on the timeline, labelled with the moment
                records = with_marker(records, t, reference(session.id, t))
            shown = ShownOutput().records(records)
            write_asciicast(out, shown, meta, include_input=a.input, version=version)
        elif a.fmt == "html":
            from auditor.html_export import write_html

            records = reader.records()
            if t is not None:  # the page opens at the moment, marked on the timeline
                records = with_marker(records, t, reference(session.id, t))
            write_html(out, session, ShownOutput().records(records), meta, commands, start_at=t)
        else:
            for line in recording_transcript(reader.records()):
                out.write(line + "\n")
    return 0


@contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise AuditorError(f"{target}: cannot write: {exc.strerror}") from None
    try:
        # A recording holds what users saw: the export is as private as the recording.
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cmd_import(ctx: Context) -> int:
    from auditor.upkeep.asciicast_import import import_asciicast

    failed = 0
    with _index(ctx, write=True) as index:
        for name in ctx.args.files:
            try:
                session_id = import_asciicast(index, Path(name))
            except AuditorError as exc:
                print(visible(f"auditor: {exc}"), file=sys.stderr)
                failed += 1
                continue
            s = index.get_session(session_id)
            print(
                visible(f"imported {name} as {session_id[:8]} ({_duration(s, s.end or s.start)})")
            )
    return 1 if failed else 0
