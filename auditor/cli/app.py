"""``auditor`` with no command: the full-screen app, running the proxy in its event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from auditor.cli.context import Context


def register(sub: Any) -> None:
    """Nothing to add: ``auditor.cli`` calls :func:`default_handler` when no command is given."""


def default_handler(ctx: Context) -> int:
    from auditor.tui.app import make_app  # Textual only for the app itself

    app = make_app(ctx.data_dir, ctx.config)
    asyncio.run(app.run_async())
    return app.return_code or 0
