"""``auditor review``, ``hold`` and ``release``: what auditors leave on a session.

Each writes the index (``auditor.index.marks``) and a line in the audit log
(``auditor.oversight``); none edits or removes a review.
"""

from __future__ import annotations

import time
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.cli.store import _index
from auditor.textsafe import visible


def register(sub: Any) -> None:
    common = common_options()
    p = sub.add_parser(
        "review",
        help="mark a session reviewed (by you, now; with a note and a moment)",
        parents=[common],
    )
    p.add_argument("id", metavar="ID[@T]", help="session ID or a unique prefix, and a moment")
    p.add_argument("--note", metavar="TEXT", help="what you found (kept with the review)")
    p.set_defaults(handler=cmd_review)

    p = sub.add_parser(
        "hold", help="keep a session past the retention policy until released", parents=[common]
    )
    p.add_argument("id", metavar="ID", help="session ID or a unique prefix")
    p.add_argument("--reason", metavar="TEXT", required=True, help="why (an incident, a case)")
    p.set_defaults(handler=cmd_hold)

    p = sub.add_parser(
        "release", help="end a session's hold: retention applies to it again", parents=[common]
    )
    p.add_argument("id", metavar="ID", help="session ID or a unique prefix")
    p.add_argument("--reason", metavar="TEXT", help="why (kept in the audit log)")
    p.set_defaults(handler=cmd_release)


def cmd_review(ctx: Context) -> int:
    from auditor import oversight
    from auditor.replay.moment import check_within, parse_moment, reference

    moment = parse_moment(ctx.args.id)
    with _index(ctx, write=True) as index:
        session = index.get_session(moment.session)
        t = moment.t
        if t is not None:
            t = check_within(t, session.duration(time.time()), ctx.args.id)
        review = oversight.reviewed(index, ctx.data_dir, session.id, ctx.args.note, t)
    where = reference(session.id, t) if t is not None else session.id[:8]
    note = f": {review.note}" if review.note else ""
    print(visible(f"reviewed {where} as {review.reviewer}{note}"))
    return 0


def cmd_hold(ctx: Context) -> int:
    from auditor import oversight

    with _index(ctx, write=True) as index:
        session = index.get_session(ctx.args.id)
        hold = oversight.held(index, ctx.data_dir, session.id, ctx.args.reason)
    print(visible(f"held session {session.id[:8]} ({hold.held_by}: {hold.reason})"))
    return 0


def cmd_release(ctx: Context) -> int:
    from auditor import oversight

    with _index(ctx, write=True) as index:
        session = index.get_session(ctx.args.id)
        hold = oversight.released(index, ctx.data_dir, session.id, ctx.args.reason)
    print(
        visible(
            f"released session {session.id[:8]} (held by {hold.held_by}: {hold.reason}); "
            "retention applies to it again"
        )
    )
    return 0
