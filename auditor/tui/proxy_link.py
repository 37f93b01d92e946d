"""Run the recording proxy in the app's event loop, or attach to one already running.

Two processes must not both serve one data directory: if an ``auditor
proxy`` is running for it (its ``proxy.json`` names a live pid), the app
only reads the data directory, which is all a second process ever needs
to show live sessions (DESIGN §1).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.config import Config
from auditor.errors import AuditorError
from auditor.textsafe import VisibleFormatter

if TYPE_CHECKING:
    from auditor.proxy.service import RecordingProxy

STATE_FILE = "proxy.json"
LOG_FILE = "proxy.log"


@dataclass(frozen=True)
class ProxyState:
    mode: str  # starting | running | attached | off | failed
    address: str | None = None
    recording: str | None = None
    pid: int | None = None
    error: str | None = None

    def describe(self) -> str:
        if self.mode == "running":
            return f"proxy {self.address} · recording: {self.recording}"
        if self.mode == "attached":
            return (
                f"attached to auditor proxy (pid {self.pid}) {self.address} · "
                f"recording: {self.recording}"
            )
        if self.mode == "starting":
            return "proxy starting…"
        if self.mode == "failed":
            return f"proxy not running: {self.error}"
        return "proxy off (browsing only)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_proxy(data_dir: Path) -> ProxyState | None:
    """The proxy another process runs for ``data_dir``, if there is one."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        pid = int(state["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pid == os.getpid() or not _pid_alive(pid):
        return None
    return ProxyState(
        "attached",
        address=str(state.get("listen")),
        recording=str(state.get("session_recording")),
        pid=pid,
    )


class ProxyLink:
    """The app's proxy: started here, attached to, or off."""

    def __init__(self, config: Config, data_dir: Path, enabled: bool = True) -> None:
        self.config = config
        self.data_dir = data_dir
        self.enabled = enabled
        self.proxy: RecordingProxy | None = None
        self.state = ProxyState("starting" if enabled else "off")

    async def start(self) -> ProxyState:
        if not self.enabled:
            return self.state
        other = running_proxy(self.data_dir)
        if other is not None:
            self.state = other
            return other
        from auditor.proxy.service import RecordingProxy

        self._log_to_file()
        proxy = RecordingProxy(self.config, self.data_dir)
        try:
            await proxy.start()
        except AuditorError as exc:
            self.state = ProxyState("failed", error=str(exc))
            return self.state
        self.proxy = proxy
        # `kill -HUP` of the app rereads the config as it does for `auditor proxy`.
        asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, proxy.reload_config)
        assert proxy.address is not None
        self.state = ProxyState(
            "running",
            address=f"{proxy.address[0]}:{proxy.address[1]}",
            recording=self.config.session_recording,
            pid=os.getpid(),
        )
        return self.state

    def _log_to_file(self) -> None:
        """The proxy's log goes to ``DATA_DIR/proxy.log``: stderr is the app's screen."""
        handler = logging.FileHandler(self.data_dir / LOG_FILE)
        handler.setFormatter(VisibleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in ("auditor", "asyncssh"):
            logger = logging.getLogger(name)
            logger.addHandler(handler)
            logger.propagate = False
        logging.getLogger("auditor").setLevel(logging.INFO)
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        self._log_handler = handler

    async def stop(self) -> None:
        proxy, self.proxy = self.proxy, None
        if proxy is not None:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            await proxy.stop()
            for name in ("auditor", "asyncssh"):
                logging.getLogger(name).removeHandler(self._log_handler)
            self._log_handler.close()
