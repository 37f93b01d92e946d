"""``auditor terminate``: end a live session on whichever proxy carries it."""

from __future__ import annotations

import time
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.cli.store import _index
from auditor.errors import AuditorError
from auditor.index.owner import os_user
from auditor.textsafe import visible
from auditor.upkeep.termination import request_termination

# Proxies look for requests every half second; give a busy one some slack.
WAIT = 5.0


def register(sub: Any) -> None:
    p = sub.add_parser(
        "terminate",
        help="end a live session on whichever proxy carries it (the user is told why)",
        parents=[common_options()],
    )
    p.add_argument("id", metavar="ID", help="session ID or a unique prefix")
    p.add_argument("--reason", metavar="TEXT", help="shown to the user and kept in the index")
    p.set_defaults(handler=cmd_terminate)


def cmd_terminate(ctx: Context) -> int:
    with _index(ctx) as index:
        asked = request_termination(index, ctx.args.id, by=os_user(), reason=ctx.args.reason)
        short, reason = asked.id[:8], asked.termination_reason
        deadline = time.monotonic() + WAIT
        while index.get_session(asked.id).live:
            if time.monotonic() > deadline:
                raise AuditorError(
                    f"session {short}: termination requested, but no proxy ended it within "
                    f"{WAIT:g}s; is the proxy carrying it running?"
                )
            time.sleep(0.1)
    target = f"{asked.login or '?'}@{asked.node}" if asked.node else (asked.login or "-")
    print(visible(f"terminated session {short} ({asked.user or '-'} {target}): {reason}"))
    return 0
