"""The YAML config: the reference's snippets work verbatim; mistakes are one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from auditor.config import (
    Config,
    ConfigError,
    HostPort,
    Retention,
    Storage,
    load_config,
    parse_config,
)

REFERENCE = """
auth_service:
   # Session Recording must be set to Proxy to work with OpenSSH
   session_recording: "proxy"  # can also be "off" and "node" (default)
   proxy_checks_host_keys: no
proxy_service:
  listen_addr: 0.0.0.0:3023
  public_addr: proxy.example.com
users:
  joe: {logins: [root, joe]}
trusted_clusters:
  remote-cluster: {proxy_addr: 10.0.0.5:3023}
nodes:
  db.example.com: {addr: 10.0.0.7, labels: {env: prod}}
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "auditor.yaml"
    p.write_text(text)
    return p


def test_reference_snippets_parse(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, REFERENCE))
    assert cfg.session_recording == "proxy"
    assert cfg.proxy_checks_host_keys is False
    assert cfg.listen_addr == HostPort("0.0.0.0", 3023)
    assert cfg.public_addr == ("proxy.example.com",)
    assert cfg.logins_for("joe") == ("root", "joe")
    assert cfg.logins_for("mallory") == ()
    assert cfg.trusted_clusters["remote-cluster"].proxy_addr == HostPort("10.0.0.5", 3023)
    assert cfg.nodes["db.example.com"].addr == "10.0.0.7"
    assert cfg.nodes["db.example.com"].labels == {"env": "prod"}


def test_defaults_are_usable_without_a_file() -> None:
    cfg = load_config(None)
    assert cfg == Config()
    assert cfg.session_recording == "proxy" and cfg.proxy_checks_host_keys is True
    assert cfg.listen_addr == HostPort("127.0.0.1", 3023)
    assert cfg.logins_for("anyone") is None  # no users section: no limit
    assert cfg.dial_attempts == 50


def test_bare_off_means_recording_off(tmp_path: Path) -> None:
    # YAML 1.1 reads `off` as false; the operator meant the mode.
    cfg = load_config(write(tmp_path, "auth_service: {session_recording: off}\n"))
    assert cfg.session_recording == "off"


def test_session_recording_input_defaults_to_redacted(tmp_path: Path) -> None:
    assert Config().session_recording_input == "redacted"
    for mode in ("redacted", "all", "none"):
        text = f"auth_service: {{session_recording_input: {mode}}}\n"
        assert load_config(write(tmp_path, text)).session_recording_input == mode


def test_ipv6_listen_addr(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, 'proxy_service: {listen_addr: "[::1]:3023"}\n'))
    assert cfg.listen_addr == HostPort("::1", 3023)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auth_servce: {}\n", "auth_servce: unknown key; allowed: auth_service,"),
        (
            "auth_service: {proxy_check_host_keys: no}\n",
            "auth_service.proxy_check_host_keys: unknown key; allowed:",
        ),
        (
            "auth_service: {session_recording: always}\n",
            "auth_service.session_recording: expected one of proxy, node, off; got 'always'",
        ),
        (
            "auth_service: {session_recording_input: secret}\n",
            "auth_service.session_recording_input: expected one of redacted, all, none; "
            "got 'secret'",
        ),
        (
            "auth_service: {proxy_checks_host_keys: maybe}\n",
            "auth_service.proxy_checks_host_keys: expected yes or no, got 'maybe'",
        ),
        (
            "proxy_service: {listen_addr: 'localhost:99999'}\n",
            "proxy_service.listen_addr: port must be 1-65535",
        ),
        ("users: {joe: {logins: 5}}\n", "users.joe.logins: expected a list of strings"),
        ("users: {joe: {}}\n", "users.joe.logins: required"),
        ("trusted_clusters: {leaf: {}}\n", "trusted_clusters.leaf.proxy_addr: required"),
        ("nodes: [a, b]\n", "nodes: expected a mapping, got a list"),
        ("proxy_service: {dial_attempts: 0}\n", "proxy_service.dial_attempts: expected an integer"),
        ("- just\n- a list\n", ": expected a mapping, got a list"),
        ("auth_service: {a: [}\n", "not valid YAML"),
        ("storage: {audit_event_uri: x}\n", "storage.audit_event_uri: unknown key; allowed:"),
        (
            "storage: {audit_events_uri: 'mysql://db/auditor'}\n",
            "storage.audit_events_uri: scheme 'mysql://' in 'mysql://db/auditor' is not an index",
        ),
        (
            "storage: {audit_events_uri: 'db.example.com/auditor'}\n",
            "storage.audit_events_uri: no scheme in",
        ),
        ("storage: {audit_events_uri: 5432}\n", "storage.audit_events_uri: expected a non-empty"),
        (
            "storage: {audit_sessions_uri: 'gs://recordings/prod'}\n",
            "storage.audit_sessions_uri: gs:// is not a place for recordings",
        ),
        (
            "storage: {audit_sessions_uri: 's3://recordings/prod?endpoint=minio:9000'}\n",
            "storage.audit_sessions_uri: endpoint 'minio:9000' is not an http(s) URL",
        ),
        (
            "storage: {audit_sessions_uri: 's3://recordings/prod?zone=eu'}\n",
            "storage.audit_sessions_uri: unknown parameter 'zone' (endpoint, region)",
        ),
        (
            "storage: {audit_sessions_uri: 'file://recordings'}\n",
            "storage.audit_sessions_uri: expected file:///ABSOLUTE/PATH",
        ),
        ("retention: {session: 90d}\n", "retention.session: unknown key; allowed: sessions,"),
        ("retention: {sessions: 90}\n", "retention.sessions: expected how long to keep them"),
        ("retention: {failures: soon}\n", "retention.failures: expected how long to keep them"),
        ("retention: {sessions: 10m}\n", "retention.sessions: at least 1h; got '10m'"),
        ("retention: 90d\n", "retention: expected a mapping"),
    ],
)
def test_bad_values_are_refused_naming_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_retention_keeps_sessions_and_failures_as_long_as_it_says(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "retention: {sessions: 90d, failures: 52w}\n"))
    assert cfg.retention == Retention(sessions=90 * 86400, failures=52 * 7 * 86400)
    assert cfg.retention.any
    kept = load_config(write(tmp_path, "retention: {sessions: 30d, failures:}\n")).retention
    assert kept == Retention(sessions=30 * 86400, failures=None)
    assert Config().retention == Retention() and not Config().retention.any  # kept for good


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_storage_names_the_index_and_the_recordings(tmp_path: Path) -> None:
    assert Config().storage == Storage(None, None)  # SQLite and files in the data directory
    cfg = load_config(
        write(
            tmp_path,
            "storage:\n"
            "  audit_events_uri: postgresql://auditor@db.example.com:5432/auditor\n"
            "  audit_sessions_uri: file:///var/lib/auditor/recordings\n",
        )
    )
    assert cfg.storage == Storage(
        "postgresql://auditor@db.example.com:5432/auditor", "file:///var/lib/auditor/recordings"
    )


def test_a_password_in_a_refused_uri_is_not_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, "storage: {audit_events_uri: 'mysql://joe:hunter2@db/auditor'}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "hunter2" not in str(info.value)
    assert "mysql://joe:***@db/auditor" in str(info.value)


@pytest.mark.parametrize("value", ["3023", "':3023'", "' 3023 '"])
def test_a_listen_addr_without_its_host_is_refused(tmp_path: Path, value: str) -> None:
    # A port alone used to bind every interface; the proxy never listens wider than asked.
    path = write(tmp_path, f"proxy_service:\n  listen_addr: {value}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: proxy_service.listen_addr: a port alone would listen on every interface; "
        "write 127.0.0.1:3023 (this machine only) or 0.0.0.0:3023 (reachable from other machines)"
    )


def test_upstream_auth_and_source_addresses(tmp_path: Path) -> None:
    assert Config().upstream_auth == "certificate" and Config().upstream_source_addresses == ()
    text = (
        "auth_service: {upstream_auth: agent}\n"
        "proxy_service: {upstream_source_addresses: [10.0.0.5, '10.1.0.0/16', '::1']}\n"
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.upstream_auth == "agent"
    assert cfg.upstream_source_addresses == ("10.0.0.5/32", "10.1.0.0/16", "::1/128")
    for text, expected in [
        (
            "auth_service: {upstream_auth: password}\n",
            "auth_service.upstream_auth: expected one of certificate, agent; got 'password'",
        ),
        (
            "proxy_service: {upstream_source_addresses: [10.0.0.5, proxy-1]}\n",
            "proxy_service.upstream_source_addresses[1]: expected an address or CIDR block",
        ),
    ]:
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        message = str(info.value)
        assert message.startswith(f"{path}: ") and expected in message and "\n" not in message


def test_an_empty_file_reads_as_the_defaults() -> None:
    assert parse_config({}) == parse_config(None) == Config()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "proxy_service: {dial_attempts: 0}\n",
            "proxy_service.dial_attempts: expected an integer from 1 to 1000, got 0",
        ),
        (
            "proxy_service: {max_unauthenticated: '5'}\n",
            "proxy_service.max_unauthenticated: expected an integer from 1 to 100000, got '5'",
        ),
        ("proxy_service: {one_hop: 1}\n", "proxy_service.one_hop: expected yes or no, got 1"),
        (
            "nodes: {db: {max_startups: true}}\n",
            "nodes.db.max_startups: expected an integer from 1 to 10000, got True",
        ),
        (
            "roles: {dev: {nodes: ['*']}}\n",
            "roles.dev.logins: required: the logins this role allows",
        ),
        (
            "trusted_clusters: {leaf: {}}\n",
            "trusted_clusters.leaf.proxy_addr: required: HOST:PORT of its proxy",
        ),
        (
            "proxy_service: {dial_timeout: }\n",
            "proxy_service.dial_timeout: expected a duration like 30s or 2m, got None",
        ),
        (
            "proxy_service: {login_grace_time: [2m]}\n",
            "proxy_service.login_grace_time: expected a duration like 30s or 2m, got ['2m']",
        ),
        (
            "roles: {dev: {logins: [root], node_labels: {env: [prod, '']}}}\n",
            "roles.dev.node_labels.env[1]: expected a non-empty string, got ''",
        ),
    ],
)
def test_a_refusal_is_the_whole_line_naming_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: {expected}"


def test_importing_the_config_does_not_import_its_validator() -> None:
    # Every command imports auditor.config; only reading a file needs msgspec.
    code = "import sys, auditor.config; print('msgspec' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
