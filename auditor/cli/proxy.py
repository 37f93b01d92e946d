"""``auditor proxy``: the recording proxy in the foreground, for daemon use."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from auditor.cli.context import Context, common_options
from auditor.config import parse_host_port
from auditor.errors import UsageError
from auditor.textsafe import VisibleFormatter


def register(sub: Any) -> None:
    p = sub.add_parser(
        "proxy", help="run the recording proxy in the foreground", parents=[common_options()]
    )
    p.add_argument("--listen", metavar="HOST:PORT", help="override proxy_service.listen_addr")
    p.add_argument("-v", "--verbose", action="store_true", help="log each connection's details")
    p.set_defaults(handler=cmd_proxy)


def cmd_proxy(ctx: Context) -> int:
    from dataclasses import replace

    from auditor.proxy.service import RecordingProxy

    config = ctx.config
    if ctx.args.listen:
        try:
            config = replace(config, listen_addr=parse_host_port(ctx.args.listen))
        except ValueError as exc:
            raise UsageError(f"--listen: {exc}") from None
    # Log lines quote nodes and logins the clients chose: controls as escapes.
    handler = logging.StreamHandler()
    handler.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    level = logging.DEBUG if ctx.args.verbose else logging.INFO
    logging.basicConfig(level=level, handlers=[handler])
    if not ctx.args.verbose:
        logging.getLogger("asyncssh").setLevel(logging.WARNING)

    async def run() -> None:
        proxy = RecordingProxy(config, ctx.data_dir)
        await proxy.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # Role and inventory changes for new connections; open sessions are not cut.
        loop.add_signal_handler(signal.SIGHUP, proxy.reload_config)
        try:
            await stop.wait()
        finally:
            await proxy.stop()

    asyncio.run(run())
    return 0
