"""The README's Layout map names modules that exist: a move that forgets it fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def layout_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Layout\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_every_module_the_layout_names_exists() -> None:
    named = re.findall(r"`([\w/]+\.py)`", layout_section())
    assert len(named) > 20
    missing = [n for n in named if not (ROOT / "auditor" / n).exists()]
    assert missing == [], missing


def test_every_package_the_layout_names_exists() -> None:
    packages = re.findall(r"`auditor/(\w+)`", layout_section())
    assert {"cli", "tui", "proxy", "upkeep", "replay", "index", "recording"} <= set(packages)
    assert all((ROOT / "auditor" / p / "__init__.py").exists() for p in packages)
