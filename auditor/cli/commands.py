"""``auditor commands``: who ran which command where, newest first."""

from __future__ import annotations

import json
import sys
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.cli.store import _index, _table, _when, parse_since
from auditor.replay.moment import reference


def register(sub: Any) -> None:
    p = sub.add_parser(
        "commands",
        help="the commands users ran (newest first); replay one at its moment: `replay ID@T`",
        parents=[common_options()],
    )
    p.add_argument("--user", metavar="U")
    p.add_argument("--node", metavar="N")
    p.add_argument("--since", metavar="T", help="a duration back (2h, 7d) or an ISO date")
    p.add_argument("--search", metavar="Q", help="only commands with every word (rm*, /etc)")
    p.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    p.add_argument("--json", action="store_true", help="JSON for scripts")
    p.set_defaults(handler=cmd_commands)


def cmd_commands(ctx: Context) -> int:
    a = ctx.args
    since = parse_since(a.since)
    from auditor.upkeep.command_extraction import extract_pending_commands

    with _index(ctx) as index:
        # Sessions that ended since the last pass (imported ones, or with no
        # proxy running to read them) are read now, so the list is whole.
        extract_pending_commands(index)
        found = index.commands(
            user=a.user, node=a.node, since=since, search=a.search, limit=a.limit
        )
    if a.json:
        json.dump(
            [{**c.to_json(), "moment": reference(c.session_id, c.t)} for c in found],
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    if not found:
        print("no commands" + (" match" if a.search or a.user or a.node or since else ""))
        return 0
    # The moment (ID@T) replays it: `auditor replay 3f2a9c12@1:23.4`.
    table = [["TIME", "USER", "TARGET", "MOMENT", "COMMAND"]]
    for c in found:
        target = f"{c.login or '?'}@{c.node}" if c.node else (c.login or "-")
        table.append([_when(c.time), c.user or "-", target, reference(c.session_id, c.t), c.line])
    _table(table, sys.stdout)
    return 0
