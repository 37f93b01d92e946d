"""The retention policy applied by the proxy: once at start, then once a day.

The work (index deletes, file and object removals) runs on a thread of its own
with its own index connection, never on the event loop or the index writer's
thread. A bucket that fails keeps its sessions' rows for the next day's try.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from auditor.config import Config
from auditor.errors import AuditorError
from auditor.index import SessionIndex
from auditor.proxy.audit_log import AuditLog
from auditor.retention import PruneReport, prune

log = logging.getLogger("auditor.proxy")
INTERVAL = 86400.0


async def apply_daily(current: Callable[[], Config], data_dir: Path, audit: AuditLog) -> None:
    """The policy of the config in force at each pass (``current``): a reload
    (SIGHUP) that changes ``retention`` applies from the next day's pass on."""
    while True:
        config = current()
        if not config.retention.any:
            await asyncio.sleep(INTERVAL)
            continue
        try:
            report = await asyncio.to_thread(_apply, config, data_dir, audit)
        except (AuditorError, OSError) as exc:  # the index or bucket away, a file we may not remove
            log.warning("retention: %s; trying again in a day", exc)
        else:
            if report.sessions or report.failures:
                log.info(
                    "retention: removed %s sessions (%s files, %s objects) and %s failures",
                    len(report.sessions),
                    report.files,
                    report.objects,
                    report.failures,
                )
        await asyncio.sleep(INTERVAL)


def _apply(config: Config, data_dir: Path, audit: AuditLog) -> PruneReport:
    with SessionIndex.open(data_dir, uri=config.storage.audit_events_uri) as index:
        return prune(index, config.retention, audit)
