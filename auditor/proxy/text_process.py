"""Full-text extraction for the proxy's sessions, in a child process.

Extraction decodes whole recordings; in the proxy's own process it would
take the GIL from the event loop that forwards bytes (measured: 200 MB
through the proxy went from 2.3 s to 5-12 s while a thread extracted). A
separate process keeps it off the hot path entirely; SQLite's WAL lets both
write the index.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.synchronize import Event
from pathlib import Path

log = logging.getLogger("auditor.proxy")
INTERVAL = 2.0


def _run(data_dir: str, wake: Event, stop: Event, parent: int) -> None:
    from auditor.index import SessionIndex
    from auditor.replay.upkeep import KeyframeUpkeep

    # Two cores are shared with sshd and ssh: forwarding bytes comes first.
    os.nice(10)
    index = SessionIndex.open(Path(data_dir), background_text=False)
    keyframes = KeyframeUpkeep()  # seeking in replays: built here, never in the proxy
    try:
        while not stop.is_set() and os.getppid() == parent:
            wake.wait(INTERVAL)
            wake.clear()
            try:
                index.index_pending_text()
                keyframes.run(index)
            except Exception:
                log.exception("text extraction pass failed")
        index.index_pending_text()  # sessions that just ended are searchable at once
    finally:
        index.close()


class TextProcess:
    def __init__(self, data_dir: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._wake = ctx.Event()
        self._stop = ctx.Event()
        self._proc = ctx.Process(
            target=_run,
            args=(str(data_dir), self._wake, self._stop, os.getpid()),
            name="auditor-text",
            daemon=True,
        )

    def start(self) -> None:
        self._proc.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()
