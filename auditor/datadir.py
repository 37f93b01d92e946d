"""Where auditor keeps its state: CAs, the index, recordings, the audit log.

The data directory is the interface between processes (DESIGN §1), so every
command resolves it the same way: ``--data-dir``, then ``AUDITOR_HOME``, then
the XDG data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditor.errors import AuditorError


def resolve_data_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("AUDITOR_HOME")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "auditor"


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) and make it 0700.

    Recordings hold everything users typed, CA keys sign logins: nobody but
    the owner may list or read them.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
    except OSError as exc:
        raise AuditorError(f"cannot create data directory {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK):
        raise AuditorError(f"data directory {path} is not writable")
    return path


def write_private_file(path: Path, data: bytes, mode: int = 0o600, durable: bool = False) -> None:
    """Write ``data`` so that the file never exists with looser permissions;
    ``durable``: on the disk (the file and its directory entry) before returning."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
