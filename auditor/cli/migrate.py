"""``auditor migrate``: this machine's store into a shared one (``auditor.upkeep.migration``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auditor.cli.context import Context, common_options
from auditor.cli.store import _table, _when
from auditor.errors import AuditorError, UsageError
from auditor.sizes import format_size
from auditor.storage import EVENTS_KEY, POSTGRES_SCHEMES, StorageError, redact

if TYPE_CHECKING:
    from auditor.index import Session, SessionIndex
    from auditor.recording.bucket import Bucket
    from auditor.upkeep.migration import MigrationReport

AGAIN = "run the same command again to continue"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "migrate",
        help="copy this machine's sessions, failures and recordings into a shared store",
        description="Copy the store the config points at (SQLite and recording files "
        "on one machine) into a shared PostgreSQL index and, with --sessions-to, a "
        "bucket. Run it again to resume after an interruption or to copy what was "
        "recorded since: nothing is copied twice.",
        parents=[common_options()],
    )
    p.add_argument(
        "--to", required=True, metavar="URI", help="the shared index: postgresql://USER@HOST/DB"
    )
    p.add_argument(
        "--sessions-to",
        metavar="URI",
        help="the shared recordings: s3://BUCKET/PREFIX?endpoint=URL&region=NAME "
        "(without it the index keeps naming the files here)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list what would be copied and copy nothing"
    )
    p.add_argument(
        "--progress-every",
        type=int,
        default=100,
        metavar="N",
        help="a progress line on stderr every N sessions (default 100)",
    )
    p.set_defaults(handler=cmd_migrate)


def say(line: str) -> None:
    print(f"migrate: {line}", file=sys.stderr, flush=True)


def cmd_migrate(ctx: Context) -> int:
    from auditor.upkeep.migration import Migration

    a = ctx.args
    _check_index_uri(a.to)
    if (ctx.config.storage.audit_events_uri or "").strip() == a.to.strip():
        raise UsageError(f"--to: {redact(a.to)} is already this machine's index ({EVENTS_KEY})")
    bucket = _bucket(a.sessions_to)
    source = ctx.open_index()
    try:
        if bucket is not None:
            bucket.check()
        target = _open_target(a.to, ctx)
        try:
            migration = Migration(
                source,
                target,
                bucket,
                dry_run=a.dry_run,
                note=say,
                progress=lambda r: say(_progress(r)),
                every=a.progress_every,
            )
            try:
                report = migration.run()
            except KeyboardInterrupt:
                print(f"auditor: interrupted: {_so_far(migration.report)}", file=sys.stderr)
                return 130
            except AuditorError as exc:
                # A store gone away midway: one line, and how to go on.
                stopped = AuditorError(f"{_name_flag(str(exc), a.to)}; {_so_far(migration.report)}")
                stopped.exit_code = exc.exit_code
                raise stopped from None
        finally:
            target.close()
    finally:
        source.close()
    if a.dry_run:
        _show_plan(report)
    _summary(report, a.dry_run, bucket)
    return 1 if report.not_copied else 0


def _check_index_uri(uri: str) -> None:
    scheme = urlsplit(uri.strip()).scheme.lower()
    if scheme not in POSTGRES_SCHEMES:
        shown = f"scheme {scheme + '://'!r}" if scheme else "no scheme"
        raise UsageError(
            f"--to: {shown} in {redact(uri)!r} is not a shared index; "
            "expected postgresql://USER@HOST:PORT/DATABASE"
        )


def _bucket(uri: str | None) -> Bucket | None:
    if not uri:
        return None
    from auditor.recording.bucket import Bucket

    return Bucket(uri, key="--sessions-to")


def _open_target(uri: str, ctx: Context) -> SessionIndex:
    from auditor.index import open_index

    try:
        return open_index(ctx.data_dir_path, uri)
    except StorageError as exc:
        raise StorageError(_name_flag(str(exc), uri)) from None


def _name_flag(message: str, uri: str) -> str:
    """The target index's errors name the flag it came from, not the config key."""
    if message.startswith(f"{EVENTS_KEY}:") and redact(uri) in message:
        return "--to" + message.removeprefix(EVENTS_KEY)
    return message


def _progress(r: MigrationReport) -> str:
    return (
        f"{r.done} of {_n(r.sessions, 'session')} ({r.copied} copied, {r.present} already there), "
        f"{format_size(r.uploaded)} uploaded"
    )


def _so_far(r: MigrationReport) -> str:
    copied = f"{_n(r.copied, 'session')} and {_n(r.failures_copied, 'failure')}"
    return f"{copied} copied so far; {AGAIN}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _show_plan(r: MigrationReport) -> None:
    if not r.planned:
        return
    table = [["ID", "START", "STATUS", "USER", "TARGET", "RECORDING"]]
    for s in r.planned:
        target = f"{s.login or '?'}@{s.node}" if s.node else (s.login or "-")
        table.append([s.id[:8], _when(s.start), s.status, s.user or "-", target, _where(s)])
    _table(table, sys.stdout)


def _where(s: Session) -> str:
    if s.recording is None:
        return "-"
    return "object" if s.recording.is_object else "file"


def _summary(r: MigrationReport, dry_run: bool, bucket: Bucket | None) -> None:
    verb = "would be copied" if dry_run else "copied"
    parts = [
        f"{r.copied} of {_n(r.sessions, 'session')} {verb} ({r.present} already there)",
        f"{r.failures_copied} of {_n(r.failures, 'failure')} {verb} "
        f"({r.failures_present} already there)",
    ]
    if bucket is not None:
        size = r.to_upload if dry_run else r.uploaded
        parts.append(
            f"{'up to ' if dry_run else ''}{format_size(size)} "
            f"{'to upload' if dry_run else 'uploaded'} to {redact(bucket.describe())}"
        )
    say(", ".join(parts) + ("; nothing was changed" if dry_run else ""))
    if r.recovered:
        say(f"marked interrupted and copied: {_n(r.recovered, 'session')} a gone proxy left live")
    if r.live:
        shown = ", ".join(i[:8] for i in r.live[:5]) + (", ..." if len(r.live) > 5 else "")
        live = f"{_n(len(r.live), 'live session')} ({shown})"
        if dry_run:
            say(
                f"not copied while live: {live}; a real run first marks those a gone proxy "
                "left live interrupted, and copies them"
            )
        else:
            ends = "it ends" if len(r.live) == 1 else "they end"
            say(f"not copied while a proxy records: {live}; run migrate again once {ends}")
    if r.not_copied:
        say(
            f"not copied: {_n(len(r.not_copied), 'session')} whose recording cannot be read "
            "(see above; `auditor verify ID` says more)"
        )
