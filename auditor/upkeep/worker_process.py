"""Full-text extraction and replay keyframes for the proxy's sessions, in a child process.

Extraction decodes whole recordings; in the proxy's own process it would
take the GIL from the event loop that forwards bytes (measured: 200 MB
through the proxy went from 2.3 s to 5-12 s while a thread extracted). A
separate process keeps it off the hot path entirely; SQLite's WAL lets both
write the index.

The child is a plain ``python -m auditor.upkeep.worker_process DATA_DIR`` with a
pipe on its stdin: a byte wakes it, end of file stops it. No
multiprocessing: its resource tracker needs a real stderr, which the TUI
does not have, and the pipe also ends the child if the proxy dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("auditor.proxy")
INTERVAL = 2.0
LOG_FILE = "extract.log"


# The index's URI reaches the child in its environment, not on its command
# line, where anyone on the machine could read a password in it.
URI_ENV = "AUDITOR_EVENTS_URI"


class TextProcess:
    def __init__(self, data_dir: Path, uri: str | None = None) -> None:
        self.data_dir = data_dir
        self.uri = uri
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_path = self.data_dir / LOG_FILE
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "auditor.upkeep.worker_process", str(self.data_dir)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=fd,
                close_fds=True,
                env={**os.environ, URI_ENV: self.uri or ""},
            )
        finally:
            os.close(fd)
        assert self._proc.stdin is not None
        os.set_blocking(self._proc.stdin.fileno(), False)

    def wake(self) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.poll() is not None:
            return
        # A full pipe means a wake-up is already pending; a broken one, that the
        # child is gone (stop() reports nothing either way: passes resume later).
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(proc.stdin.fileno(), b"w")

    def stop(self, grace: float = 3.0) -> None:
        """Ask for a last pass, but never hold up shutdown for it: passes resume later."""
        proc = self._proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait()
        self._proc = None


def run(data_dir: Path) -> None:
    from auditor.index import SessionIndex
    from auditor.storage import StorageError
    from auditor.upkeep.command_extraction import extract_pending_commands
    from auditor.upkeep.keyframe_files import KeyframeUpkeep
    from auditor.upkeep.text_extraction import extract_pending

    # Two cores are shared with sshd and ssh: forwarding bytes comes first.
    # SCHED_IDLE runs this only on a core nothing else wants; at nice 10 it
    # still took a share of a busy core during bulk transfers.
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(10)
    os.set_blocking(0, False)
    index = SessionIndex.open(data_dir, uri=os.environ.get(URI_ENV) or None)
    keyframes = KeyframeUpkeep()  # seeking in replays: built here, never in the proxy
    away = False
    try:
        while True:
            readable, _, _ = select.select([0], [], [], INTERVAL)
            if readable:
                try:
                    if not os.read(0, 4096):
                        break  # the proxy closed the pipe or died
                except BlockingIOError:
                    pass
            try:
                extract_pending(index)
                # Keyframes before commands: an upload to object storage waits
                # for a sealed recording's keyframes (a while, not for ever).
                keyframes.run(index)
                extract_pending_commands(index)
            except StorageError as exc:  # a shared index away: the next pass tries again
                if not away:
                    log.warning("text extraction waits: %s", exc)
                away = True
                continue
            except Exception:
                log.exception("text extraction pass failed")
            away = False
        extract_pending(index)  # sessions that just ended are searchable at once
        extract_pending_commands(index)
    finally:
        index.close()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    run(Path(sys.argv[1]))
