"""``auditor prune``: apply the retention policy (``retention:`` in the config)."""

from __future__ import annotations

import sys
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.cli.store import _index, _table, _when
from auditor.sizes import format_size

AUDIT_LOG = "audit.log"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "prune",
        help="remove sessions and failures older than the retention policy",
        parents=[common_options()],
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be removed (files and objects) and change nothing",
    )
    p.set_defaults(handler=cmd_prune)


def cmd_prune(ctx: Context) -> int:
    from auditor.audit_log import AuditLog
    from auditor.upkeep.retention import prune

    policy = ctx.config.retention
    if not policy.any:
        print(
            "no retention policy: sessions and failures are kept for good "
            "(set retention: {sessions: 90d, failures: 365d} in the config)"
        )
        return 0
    dry = ctx.args.dry_run
    with _index(ctx) as index:
        audit = None if dry else AuditLog(ctx.data_dir / AUDIT_LOG)
        try:
            report = prune(index, policy, audit, dry_run=dry)
        finally:
            if audit is not None:
                audit.close()
    if dry and report.sessions:
        table = [["ID", "ENDED", "STATUS", "USER", "TARGET"]]
        for s in report.sessions:
            target = f"{s.login or '?'}@{s.node}" if s.node else (s.login or "-")
            table.append([s.id[:8], _when(s.end or s.start), s.status, s.user or "-", target])
        _table(table, sys.stdout)
        if report.stored:
            print("\nfiles and objects:")
            for where, size in report.stored:
                print(f"  {format_size(size):>7}  {where}")
            print()
    verb = "would remove" if dry else "removed"
    parts = []
    if report.sessions_before is not None:
        stored = []
        if report.files or not report.objects:
            stored.append(f"{report.files} recording file(s), {format_size(report.bytes)}")
        if report.objects:
            stored.append(
                f"{report.objects} object(s) in the bucket, {format_size(report.object_bytes)}"
            )
        parts.append(
            f"{len(report.sessions)} session(s) ended before {_when(report.sessions_before)} "
            f"({'; '.join(stored)})"
        )
    if report.failures_before is not None:
        parts.append(f"{report.failures} failure(s) before {_when(report.failures_before)}")
    print(f"{verb} " + " and ".join(parts))
    return 0
