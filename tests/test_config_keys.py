"""The README's list of config keys is the declared one: every key that
auditor/config/sections.py declares is shown there, and it shows no key the config refuses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.config import config_keys, parse_config

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Data directory and configuration"


def readme_example() -> dict[str, Any]:
    """The YAML block of the README's configuration section."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n{SECTION}\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    example = yaml.safe_load(block)
    assert isinstance(example, dict)
    return example


def keys_shown(example: dict[str, Any]) -> set[str]:
    """The example's keys, dotted as ``config_keys`` names them: ``roles.*.logins``
    for a key of any entry of a section of named entries."""
    named = {key.split(".")[0] for key in config_keys() if ".*." in key}
    shown = set()
    for section, body in example.items():
        for name, value in body.items():
            if section in named:
                shown |= {f"{section}.*.{key}" for key in value}
            else:
                shown.add(f"{section}.{name}")
    return shown


def test_every_declared_key_is_in_the_readme_and_no_other() -> None:
    declared, shown = set(config_keys()), keys_shown(readme_example())
    assert not declared - shown, f"declared but not in README.md: {sorted(declared - shown)}"
    assert not shown - declared, f"in README.md but not declared: {sorted(shown - declared)}"


def test_every_section_of_the_readme_example_is_declared() -> None:
    sections = {key.split(".")[0] for key in config_keys()}
    assert set(readme_example()) == sections


def test_the_readme_example_is_a_valid_config() -> None:
    config = parse_config(readme_example(), "README.md")
    assert config.roles["ops"].clusters == ("remote-cluster",)
    assert config.one_hop is True and config.storage.audit_sessions_uri is not None
