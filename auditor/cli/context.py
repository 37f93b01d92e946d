"""What every command needs: the data directory and the configuration."""

from __future__ import annotations

import argparse
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.config import Config, config_path, load_config
from auditor.datadir import ensure_private_dir, resolve_data_dir
from auditor.errors import AuditorError
from auditor.storage import check_sessions_uri, sessions_bucket

if TYPE_CHECKING:
    from auditor.index import SessionIndex


def common_options(suppress: bool = True) -> argparse.ArgumentParser:
    """``--data-dir`` and ``--config``, accepted before or after the command.

    Subcommands use SUPPRESS defaults so that a value given before the
    command is not overwritten by the subparser's default of None.
    """
    default = argparse.SUPPRESS if suppress else None
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--data-dir",
        default=default,
        metavar="DIR",
        help="state directory (env AUDITOR_HOME; default: XDG data dir/auditor)",
    )
    p.add_argument(
        "--config",
        default=default,
        metavar="FILE",
        help="YAML config (env AUDITOR_CONFIG; default: DATA_DIR/config.yaml if present)",
    )
    return p


class Context:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args

    @cached_property
    def data_dir(self) -> Path:
        """The data directory, created 0700 if it does not exist yet."""
        return ensure_private_dir(resolve_data_dir(getattr(self.args, "data_dir", None)))

    @property
    def data_dir_path(self) -> Path:
        """The data directory's path, not created: for commands that only read."""
        return resolve_data_dir(getattr(self.args, "data_dir", None))

    def existing_data_dir(self) -> Path:
        """For read-only commands: a missing data directory is an error, not created."""
        path = self.data_dir_path
        if not path.is_dir():
            raise AuditorError(f"no data directory at {path}: nothing recorded yet")
        return path

    def open_index(self, *, write: bool = False) -> SessionIndex:
        """The index ``storage.audit_events_uri`` names (SQLite in the data directory
        without one). Reading a shared index needs no data directory here."""
        from auditor.index import open_index

        storage = self.config.storage
        if write:
            data_dir = self.data_dir
        elif storage.audit_events_uri:
            data_dir = self.data_dir_path
        else:
            data_dir = self.existing_data_dir()
        check_sessions_uri(storage.audit_sessions_uri, data_dir)
        if sessions_bucket(storage.audit_sessions_uri) is not None:
            from auditor.recording.bucket import Bucket

            Bucket(str(storage.audit_sessions_uri)).check()
        return open_index(data_dir, storage.audit_events_uri)

    @cached_property
    def config(self) -> Config:
        flag = getattr(self.args, "config", None)
        return load_config(
            config_path(flag, resolve_data_dir(getattr(self.args, "data_dir", None)))
        )
