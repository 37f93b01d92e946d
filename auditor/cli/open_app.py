"""``auditor`` with no command: the full-screen app, running the proxy in its event loop."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from auditor.cli.context import Context

if TYPE_CHECKING:
    from auditor.index import Session


def register(sub: Any) -> None:
    """Nothing to add: ``auditor.cli`` calls :func:`default_handler` when no command is given."""


def default_handler(ctx: Context) -> int:
    opening = _opening(ctx)  # a bad moment is one line before the app takes the screen
    from auditor.tui.app import make_app  # Textual only for the app itself

    app = make_app(ctx.data_dir, ctx.config, opening=opening)
    asyncio.run(app.run_async())
    return app.return_code or 0


def _opening(ctx: Context) -> tuple[Session, float] | None:
    """``auditor ID@T``: the session and the time its replay opens at."""
    given = getattr(ctx.args, "moment", None)
    if given is None:
        return None
    import time

    from auditor.replay.moment import check_within, parse_moment

    moment = parse_moment(given)
    if moment.t is None:
        return None
    index = ctx.open_index()
    try:
        session = index.get_session(moment.session)
    finally:
        index.close()
    if not session.recording_path:
        from auditor.errors import AuditorError

        raise AuditorError(session.no_recording())
    return session, check_within(moment.t, session.duration(time.time()), given)
