"""Running the real ``auditor`` command line in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class AuditorCli:
    data_dir: Path
    config: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUDITOR_")}
        env["AUDITOR_HOME"] = str(self.data_dir)
        if self.config:
            env["AUDITOR_CONFIG"] = str(self.config)
        env.update(self.env)
        return env

    def run(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "auditor", *args],
            capture_output=True,
            text=True,
            env=self.environ(),
            input=input,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"auditor {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc
