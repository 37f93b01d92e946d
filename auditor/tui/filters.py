"""What the app's filter boxes take: ``key:value`` words, one parser for every box.

The sessions view takes ``user:joe node:db status:ended label:env=prod
reviewed:no``, the commands view ``user:joe node:db since:2h``. Each box
names its keys and how each value is read; ``parse_filter`` splits the
words (quotes group a value with spaces) and says in one line what is wrong
with the first word it cannot take.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from auditor.access_policy import labels_match
from auditor.config import NodeSpec
from auditor.durations import parse_duration
from auditor.errors import AuditorError
from auditor.index.rows import Session

STATUSES = ("live", "ended", "interrupted")


# Reads a key's value as typed: raises NoValue, or ValueError saying what is wrong.
Reader = Callable[[str], Any]


class NoValue(ValueError):
    """A word its key takes no value from: the box's usage says what would do."""


def parse_filter(text: str, keys: Mapping[str, Reader], usage: str) -> list[tuple[str, Any]]:
    """``(key, value read)`` for each word of ``text``, in order. ValueError with a
    message for the user: a word that is not a known ``key:value`` (``usage`` says
    what is), or a value its key's reader refuses (its own message)."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise ValueError(f"filter: {exc}") from None
    found: list[tuple[str, Any]] = []
    for word in words:
        key, sep, value = word.partition(":")
        try:
            if not sep or key not in keys:
                raise NoValue
            found.append((key, keys[key](value)))
        except NoValue:
            raise ValueError(f"filter: expected {usage}, not {word!r}") from None
        except ValueError as exc:
            raise ValueError(f"filter: {exc}") from None
    return found


def named(value: str) -> str:
    """A name as typed; none is no value."""
    if not value:
        raise NoValue
    return value


def status(value: str) -> str:
    if named(value) not in STATUSES:
        raise ValueError(f"status is one of {', '.join(STATUSES)}, not {value!r}")
    return value


def label(value: str) -> tuple[str, str]:
    key, sep, wanted = value.partition("=")
    if not key or not sep or not wanted:
        raise ValueError(f"expected label:KEY=VALUE, not {'label:' + value!r}")
    return key, wanted


def seconds_back(value: str) -> float:
    """``since:2h``: how far back from now."""
    try:
        return parse_duration(named(value), "since")
    except AuditorError as exc:
        raise ValueError(str(exc)) from None


SESSION_KEYS: Mapping[str, Reader] = {
    "user": named, "node": named, "status": status, "reviewed": named, "label": label,
}  # fmt: skip
SESSION_USAGE = "user:NAME node:NAME status:STATUS label:K=V reviewed:no|yes|USER"
COMMAND_KEYS: Mapping[str, Reader] = {"user": named, "node": named, "since": seconds_back}
COMMAND_USAGE = "user:NAME node:NAME since:2h"


@dataclass(frozen=True)
class SessionFilter:
    """``user:joe node:db status:ended label:env=prod reviewed:no``, as typed into the
    filter box (``reviewed:no``, ``reviewed:yes`` or ``reviewed:USER``)."""

    user: str | None = None
    node: str | None = None
    status: str | None = None
    reviewed: str | None = None
    # ``label:K=V``: the inventory's nodes with those labels (the index keeps no labels).
    labels: tuple[tuple[str, str], ...] = ()
    label_nodes: frozenset[str] | None = None  # their names, as written and in lower case

    @classmethod
    def parse(cls, text: str, inventory: Mapping[str, NodeSpec] | None = None) -> SessionFilter:
        """Unknown keys or statuses raise ValueError with a message for the user."""
        found = parse_filter(text, SESSION_KEYS, SESSION_USAGE)
        values = {k: v for k, v in found if k != "label"}
        flt = cls(**values)
        labels = tuple(v for k, v in found if k == "label")
        if not labels:
            return flt
        wanted = {k: (v,) for k, v in labels}
        nodes = frozenset(
            name
            for key, spec in (inventory or {}).items()
            if labels_match(wanted, spec.labels)
            for name in (key, spec.name)
        )
        return replace(flt, labels=labels, label_nodes=nodes)

    def accepts(self, s: Session) -> bool:
        return (
            (self.user is None or s.user == self.user)
            and (self.node is None or s.node == self.node)
            and (self.status is None or s.status == self.status)
            and (self.label_nodes is None or _named(s.node or "", self.label_nodes))
        )

    def nodes(self) -> list[str | None]:
        """What to ask the index for, one query each: the node (or any), or each
        labelled node (the index filters on one node name at a time)."""
        if self.label_nodes is None:
            return [self.node]
        if self.node is not None:
            return [self.node] if _named(self.node, self.label_nodes) else []
        return [*sorted(self.label_nodes)]


def _named(node: str, names: frozenset[str]) -> bool:
    return node in names or node.lower() in names


@dataclass(frozen=True)
class CommandFilter:
    """``user:joe node:db since:2h``, as typed into the commands view's filter box."""

    user: str | None = None
    node: str | None = None
    since: float | None = None  # seconds back from now

    @classmethod
    def parse(cls, text: str) -> CommandFilter:
        """Unknown keys or a bad duration raise ValueError with a message for the user."""
        return cls(**dict(parse_filter(text, COMMAND_KEYS, COMMAND_USAGE)))
