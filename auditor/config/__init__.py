"""The YAML configuration (DESIGN §3), keyed like the reference document.

Every key has a default that works on one machine. Anything unknown, of the
wrong type or out of range is refused with one line naming the file, the key
and what is allowed, because a silently ignored typo in a security tool's
config (``proxy_check_host_keys: no``) is worse than a refusal.

Each key is declared once, as a field of the dataclass its section reads into
(``sections``): its type, default and bounds (``msgspec.Meta``), and, where
YAML's value is not yet the value (``30s``, ``HOST:PORT``, one string for a
list of one), the form that reads it (``values``). ``reading`` has msgspec
validate against those declarations and puts its refusals back into the
one-line form above. This module finds and loads the file.
"""

from __future__ import annotations

import os
from pathlib import Path

from auditor.config.reading import ConfigError, config_keys, parse_config
from auditor.config.sections import (
    RESTART_KEYS,
    AuthService,
    Config,
    NodeSpec,
    ProxyService,
    RecordingInput,
    RecordingMode,
    Retention,
    RoleSpec,
    Storage,
    TrustedCluster,
    UpstreamAuth,
    UserSpec,
)
from auditor.config.values import HostPort, parse_host_port

__all__ = [
    "RESTART_KEYS",
    "AuthService",
    "Config",
    "ConfigError",
    "HostPort",
    "NodeSpec",
    "ProxyService",
    "RecordingInput",
    "RecordingMode",
    "Retention",
    "RoleSpec",
    "Storage",
    "TrustedCluster",
    "UpstreamAuth",
    "UserSpec",
    "config_keys",
    "config_path",
    "load_config",
    "parse_config",
    "parse_host_port",
]


def config_path(flag: str | None, data_dir: Path) -> Path | None:
    """``--config``, then ``AUDITOR_CONFIG``, then ``DATA_DIR/config.yaml`` if present."""
    if flag:
        return Path(flag).expanduser()
    env = os.environ.get("AUDITOR_CONFIG")
    if env:
        return Path(env).expanduser()
    default = data_dir / "config.yaml"
    return default if default.exists() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config: {exc}") from None
    import yaml  # here, not at the top: commands without a config file start faster

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from None
    return parse_config(data, str(path))
