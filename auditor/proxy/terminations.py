"""Ending a live session when an auditor asks (``auditor terminate``, the TUI).

The request is the session's row in the index (who asked, and why). Every
proxy looks for requests among the sessions it carries on its flush timer,
the query running on the index's own thread, so a request from any process
on any machine that reaches the index is acted on within a flush interval,
without a channel between the asker and the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from auditor.index.rows import TerminationRequest
from auditor.proxy.index_writer import IndexWriter
from auditor.proxy.recorder import ChannelRecording

log = logging.getLogger("auditor.proxy")


class TerminationWatch:
    def __init__(self, index: IndexWriter, recordings: set[ChannelRecording]) -> None:
        self.index = index
        self.recordings = recordings
        self._asking: Future[list[TerminationRequest]] | None = None

    def check(self) -> None:
        """From the flush timer: one query for the sessions carried here, if none is running."""
        if self._asking is not None and not self._asking.done():
            return  # a slow index: no pile of queries behind it
        carried = {r.session_id: r for r in self.recordings if r.on_terminate is not None}
        if not carried:
            return
        loop = asyncio.get_running_loop()
        ids = list(carried)
        self._asking = self.index.submit(lambda: self.index.index.termination_requests(ids))
        self._asking.add_done_callback(lambda fut: _on_loop(loop, self._act, fut, carried))

    def _act(
        self, fut: Future[list[TerminationRequest]], carried: dict[str, ChannelRecording]
    ) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # logged by the index writer; the next tick asks again
        for request in fut.result():
            recording = carried.get(request.session_id)
            if recording is not None:
                log.info(
                    "session %s terminated by %s: %s",
                    request.session_id,
                    request.by,
                    request.reason,
                )
                recording.terminate(request.by, request.reason)


def _on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    # RuntimeError: the proxy stopped meanwhile, and its sessions are closed anyway.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)
