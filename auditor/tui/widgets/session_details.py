"""The line under the sessions table: the highlighted session's user with their roles,
and its node with its labels from the ``nodes:`` inventory.

Roles and labels are the config's as it is now (``auditor/access_policy.py`` reads
the same); the audit log's ``access_allowed`` line names the role that let a
session through when it began. User and node names come from the audited
side: they are appended to a ``Text`` (never markup), control characters
shown as escapes.
"""

from __future__ import annotations

from rich.text import Text

from auditor.access_policy import format_labels
from auditor.config import Config
from auditor.index import Session
from auditor.index.marks import Hold, View
from auditor.textsafe import visible  # controls and bidi overrides as escapes, like the CLI


def session_details(s: Session, config: Config) -> Text:
    user = s.user or "-"
    text = Text(end="")
    text.append(f" {visible(user)} ", style="bold")
    text.append("· ")
    spec = None if config.users is None else config.users.get(user)
    if config.users is None:
        text.append("no users section: any certificate", style="dim")
    elif spec is None:
        text.append("not in the users section", style="yellow")
    elif spec.roles:
        text.append(f"roles {', '.join(spec.roles)}")
    else:
        text.append(f"no roles: {', '.join(spec.logins)} on every node", style="dim")
    text.append(" · node ")
    node = s.node or "-"
    text.append(visible(node), style="bold")
    if s.cluster:
        text.append(f"@{visible(s.cluster)}")
    inventory = config.nodes.get(node.lower()) if not s.cluster else None
    if inventory is None:
        text.append(" (not in the inventory)", style="dim")
    else:
        text.append(f" {format_labels(inventory.labels) or '(no labels)'}")
    return text


def watchers_text(views: list[View], hold: Hold | None) -> Text:
    """`` · held by joe: reason · viewed by ann (replay), joe (export)``: newest first."""
    text = Text(end="")
    if hold is not None:
        text.append(" · held by ", style="yellow")
        text.append(visible(f"{hold.held_by}: {hold.reason}"), style="yellow")
    if not views:
        text.append(" · not viewed yet", style="dim")
        return text
    text.append(" · viewed by ")
    seen = list(dict.fromkeys((v.viewer, v.what) for v in reversed(views)))
    for i, (viewer, what) in enumerate(seen[:4]):
        if i:
            text.append(", ")
        text.append(visible(viewer), style="bold")
        text.append(f" ({what})", style="dim")
    if len(seen) > 4:
        text.append(f" and {len(seen) - 4} more", style="dim")
    return text
