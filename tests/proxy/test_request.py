"""The proxy subsystem request forms OpenSSH sends, and refusals that show the right form."""

from __future__ import annotations

import pytest

from auditor.proxy.request import EXPECTED, BadRequest, ProxyRequest, parse_subsystem


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("proxy:node.example.com:22", ProxyRequest("node.example.com", 22)),
        ("proxy:node.example.com:2222@leaf", ProxyRequest("node.example.com", 2222, "leaf")),
        ("proxy:[::1]:2200", ProxyRequest("::1", 2200)),
        (
            "proxy:[fe80::1%eth0]:22@remote-cluster",
            ProxyRequest("fe80::1%eth0", 22, "remote-cluster"),
        ),
        ("proxy:db", ProxyRequest("db", 22)),
        ("proxy:10.0.0.7:22", ProxyRequest("10.0.0.7", 22)),
    ],
)
def test_accepted_forms(name: str, expected: ProxyRequest) -> None:
    assert parse_subsystem(name) == expected
    assert parse_subsystem(expected.subsystem()) == expected


@pytest.mark.parametrize(
    "name",
    [
        "sftp",
        "proxy:",
        "proxy::22",
        "proxy:host:0",
        "proxy:host:65536",
        "proxy:host:ssh",
        "proxy:::1:22",
        "proxy:[::1",
        "proxy:[::1]22",
        "proxy:host:22@",
        "proxy:host:22@bad/cluster",
        "proxy:ho st:22",
        "proxy:host;rm -rf:22",
    ],
)
def test_refused_forms_name_the_expected_form(name: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_subsystem(name)
    assert EXPECTED in str(info.value)
    assert repr(name) in str(info.value)
