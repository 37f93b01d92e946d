"""The Quickstart's first command leaves `auditor` on the PATH (issue #21, point 2)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_start_leaves_a_launcher_a_new_shell_finds(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    env = {**os.environ, "AUDITOR_BIN_DIR": str(bin_dir), "AUDITOR_HOME": str(tmp_path / "home")}
    first = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert first.stdout.startswith("auditor ")
    assert f"auditor is on the PATH: {bin_dir}/auditor" in first.stderr
    assert f"{bin_dir} is not on this shell's PATH" in first.stderr  # and says how to add it
    # A new shell with that directory on its PATH runs the README's commands as written.
    shell = subprocess.run(
        ["bash", "-c", "auditor --version && auditor sessions --help | head -1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert shell.stdout.startswith("auditor ")
    assert "usage: auditor sessions" in shell.stdout
    again = subprocess.run(  # a second run says nothing of the launcher
        ["bash", str(ROOT / "scripts" / "start"), "--version"],
        capture_output=True,
        text=True,
        env={**env, "PATH": f"{bin_dir}:{env['PATH']}"},
        timeout=120,
        check=True,
    )
    assert again.stderr == ""


def test_a_file_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    theirs = bin_dir / "auditor"
    theirs.write_text("#!/bin/sh\necho someone else's\n")
    env = {**os.environ, "AUDITOR_BIN_DIR": str(bin_dir), "AUDITOR_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "start"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert "exists and is not auditor's launcher; left as it is" in result.stderr
    assert theirs.read_text() == "#!/bin/sh\necho someone else's\n"
