"""One parser for the filter boxes: what each box takes, and the one line it says
about the first word it cannot take."""

from __future__ import annotations

import pytest

from auditor.tui.filters import CommandFilter, SessionFilter

SESSION_USAGE = "filter: expected user:NAME node:NAME status:STATUS label:K=V reviewed:no|yes|USER"


def test_the_sessions_box() -> None:
    flt = SessionFilter.parse('user:ann node:"db 1" status:ended reviewed:no user:bob')
    assert flt == SessionFilter(user="bob", node="db 1", status="ended", reviewed="no")
    flt = SessionFilter.parse("label:env=prod label:team=web status:live")
    assert flt.labels == (("env", "prod"), ("team", "web"))
    assert (flt.status, flt.label_nodes) == ("live", frozenset())
    assert SessionFilter.parse("") == SessionFilter()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bogus", f"{SESSION_USAGE}, not 'bogus'"),
        ("since:2h", f"{SESSION_USAGE}, not 'since:2h'"),
        ("user:", f"{SESSION_USAGE}, not 'user:'"),
        ("status:", f"{SESSION_USAGE}, not 'status:'"),
        ("status:gone", "filter: status is one of live, ended, interrupted, not 'gone'"),
        ("label:", "filter: expected label:KEY=VALUE, not 'label:'"),
        ("user:ann label:env", "filter: expected label:KEY=VALUE, not 'label:env'"),
        ('user:"ann', "filter: No closing quotation"),
    ],
)
def test_what_the_sessions_box_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        SessionFilter.parse(text)
    assert str(refused.value) == message


def test_the_commands_box() -> None:
    assert CommandFilter.parse("user:ann since:2h node:db") == CommandFilter("ann", "db", 7200.0)
    usage = "filter: expected user:NAME node:NAME since:2h"
    for text, message in (
        ("status:ended", f"{usage}, not 'status:ended'"),
        ("since:", f"{usage}, not 'since:'"),
        ("since:soon", "filter: since: expected a duration like 90s, 30m, 12h or 7d; got 'soon'"),
    ):
        with pytest.raises(ValueError) as refused:
            CommandFilter.parse(text)
        assert str(refused.value) == message
