"""What the index and the audit log gained since a moment: one test's share of a shared proxy.

Tests that share a node and proxy (``shared_setup``) each look only at the
rows and events that appeared after they began, as a user would with
``auditor sessions --since``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually

Row = dict[str, object]


@dataclass
class Since:
    cli: AuditorCli
    time: float = field(default_factory=time.time)

    def ended(self, n: int, kind: str | None = None) -> list[Row]:
        """Exactly ``n`` session rows (of ``kind``) started since, all ended; oldest first."""

        def rows() -> list[Row]:
            out = self.cli.run("sessions", "--json", "--limit", "1000").stdout
            found = [
                r
                for r in json.loads(out)
                if float(str(r["start"])) >= self.time and (kind is None or r["kind"] == kind)
            ]
            if len(found) < n or any(r["status"] != "ended" for r in found):
                return []
            return sorted(found, key=lambda r: float(str(r["start"])))

        found = eventually(rows, what=f"{n} ended sessions")
        assert len(found) == n, found
        return found

    def audit_events(self, event: str) -> list[Row]:
        lines = (self.cli.data_dir / "audit.log").read_text().splitlines()
        return [
            e
            for line in lines
            if (e := json.loads(line))["event"] == event and float(e["time"]) >= self.time - 0.01
        ]
