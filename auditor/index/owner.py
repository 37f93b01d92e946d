"""Which process writes a live session, and whether it is still running.

A PID alone is not enough after a reboot or a long uptime (PIDs are
reused), so the owner also names the host and, on Linux, the process's
start time from /proc.
"""

from __future__ import annotations

import getpass
import os
import socket


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return ""
    # The command name may contain spaces and parentheses: fields follow the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


def current_owner() -> str:
    pid = os.getpid()
    return f"{this_host()}:{pid}:{_start_ticks(pid)}"


def this_host() -> str:
    return socket.gethostname()


def owner_host(owner: str | None) -> str | None:
    """The machine an owner runs on (None for a row without one)."""
    return owner.partition(":")[0] if owner else None


def owner_alive(owner: str | None) -> bool:
    """False only when we can tell the owner is gone; another host's process is assumed alive."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_s, _, ticks = rest.partition(":")
    if host != socket.gethostname():
        return True
    try:
        pid = int(pid_s)
        os.kill(pid, 0)
    except ValueError:
        return False
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process exists under that PID
    return not ticks or _start_ticks(pid) in ("", ticks)


def os_user() -> str:
    """Who runs this process, for the record of who did what (a termination)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container) and no $USER
        return f"uid {os.getuid()}"
