"""A client that keeps running while the test works through it (``ssh -N -R``, a master).

Its stderr is collected line by line on a thread, so a test can wait for what
the client prints (``Allocated port 40123 ...``) and fail with all of it if
the client exits instead. Stopped by the PID we started.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence

from tests.harness.eventually import eventually
from tests.harness.openssh import stop_process


class Background:
    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.proc = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def alive(self) -> bool:
        """True while running; an AssertionError with its stderr once it has exited."""
        if self.proc.poll() is not None:
            self._reader.join(2)
            raise AssertionError(f"{self.argv[0]} exited {self.proc.returncode}: {self.stderr()}")
        return True

    def wait_line(self, needle: str, timeout: float = 15) -> str:
        def found() -> str | None:
            self.alive()
            return next((line for line in self.lines if needle in line), None)

        return eventually(found, timeout, what=f"{needle!r} from {self.argv[0]}")

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def stop(self) -> None:
        stop_process(self.proc)
        self._reader.join(2)
