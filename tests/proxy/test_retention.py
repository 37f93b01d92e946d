"""The proxy applies the retention policy by itself: at start, then once a day."""

from __future__ import annotations

import json
import time

from auditor.index import SessionIndex
from tests.harness.auditor_cli import AuditorCli
from tests.harness.eventually import eventually
from tests.proxy.conftest import StartProxy

DAY = 86400.0


def test_a_proxy_with_a_policy_prunes_at_start(ca: AuditorCli, start_proxy: StartProxy) -> None:
    now = time.time()
    with SessionIndex.open(ca.data_dir) as index:
        old = index.start_session(user="joe", node="db1", kind="session", start=now - 40 * DAY)
        index.end_session(old, exit_status=0, end=now - 40 * DAY + 5)
        kept = index.start_session(user="joe", node="db1", kind="session", start=now - DAY)
        index.end_session(kept, exit_status=0, end=now - DAY + 5)
    audit = ca.data_dir / "audit.log"

    def pruned() -> list[dict[str, object]]:
        if not audit.exists():
            return []
        events = [json.loads(line) for line in audit.read_text().splitlines()]
        return [e for e in events if e["event"] == "prune"]

    proxy = start_proxy(config="retention: {sessions: 30d}\n")
    [summary] = eventually(pruned, 10, "the proxy's prune line in the audit log")
    assert summary["sessions"] == 1 and "failures_before" not in summary
    with SessionIndex.open(ca.data_dir) as index:
        assert [s.id for s in index.sessions()] == [kept]
    assert proxy.proc.poll() is None
