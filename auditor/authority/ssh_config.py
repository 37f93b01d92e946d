"""The ``~/.ssh/config`` block that sends OpenSSH through the proxy.

Two forms (DESIGN §12). The default is one hop: ``auditor connect`` names
the node to the proxy and hands ssh the connected socket
(``ProxyUseFdpass``), so the session is one SSH layer. ``--nested`` is the
reference's form, an ssh to the proxy carrying the session's ssh in its
``proxy:`` subsystem.

Agent forwarding follows ``auth_service.upstream_auth``. With
``certificate`` (the default) the proxy logs in to nodes with a certificate
it mints, so neither form forwards the agent: the block says so in a comment,
and ``ssh -A`` still forwards it to the node when the user wants it there.
With ``agent`` it is set as the reference explains: on the proxy hop
(mandatory, or the recording proxy cannot reach the node) and on the inner
one (so the user's agent is available on the node too).
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

from auditor.config import Config


def forwards_agent(config: Config) -> bool:
    """Whether ssh must forward the user's agent for the proxy to reach nodes."""
    return config.upstream_auth == "agent"


def _upstream_comment(config: Config) -> list[str]:
    if forwards_agent(config):
        return [
            "# upstream_auth: agent: the proxy logs in to nodes with the certificate in",
            "# your agent, so the agent is forwarded to it (ForwardAgent yes).",
        ]
    return [
        "# upstream_auth: certificate: the proxy logs in to nodes with a certificate it",
        "# mints for each session, so your agent is not forwarded (use ssh -A to have",
        "# it on the node).",
    ]


def proxy_alias(config: Config) -> str:
    """The name users type for the proxy; it is in the proxy's host certificate."""
    return config.public_addr[0] if config.public_addr else f"proxy.{config.cluster_name}"


def proxy_address(config: Config) -> tuple[str, int]:
    """Where clients reach the proxy: its listener (loopback for a wildcard one)."""
    listen = config.listen_addr
    host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host
    return host, listen.port


def auditor_command() -> str:
    """How ssh should start ``auditor``: the program running now, found on PATH
    if it is there, else by this Python."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "auditor" and argv0.exists():
        return shlex.quote(str(argv0.resolve()))
    found = shutil.which("auditor")
    if found:
        return shlex.quote(found)
    return f"{shlex.quote(sys.executable)} -m auditor"


def connect_command(config: Config, cluster: str | None = None) -> str:
    """The one-hop ProxyCommand."""
    host, port = proxy_address(config)
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    suffix = f"@{cluster}" if cluster else ""
    return f"{auditor_command()} connect --proxy {where} %h:%p{suffix}"


def ssh_config_block(config: Config, nested: bool = False) -> str:
    if not nested:
        return _one_hop_block(config)
    alias = proxy_alias(config)
    host, port = proxy_address(config)
    agent = forwards_agent(config)
    forward = ["    ForwardAgent yes"] if agent else []
    hop_agent = " -o 'ForwardAgent yes'" if agent else ""
    hop = f"ssh{hop_agent} -p {port} %r@{alias}"
    lines = [
        f"# auditor: nodes of cluster {config.cluster_name} through the recording proxy.",
        *_upstream_comment(config),
        "# Trust the host CA once for the proxy and every node:",
        "#   auditor ca export --type=host >> ~/.ssh/known_hosts",
        f"Host {alias}",
        f"    HostName {host}",
        f"    Port {port}",
        # Verify the proxy by its name, not by the address it is reached at.
        f"    HostKeyAlias {alias}",
        "    ProxyCommand none",
        *forward,
        "",
    ]
    # OpenSSH takes the first value it finds for each option, so the more
    # specific trusted-cluster patterns come before the cluster's own.
    for name in sorted(config.trusted_clusters):
        lines += [
            f"Host *.{name}.{config.cluster_name}",
            "    HostName %h",
            *forward,
            f"    ProxyCommand {hop} -s proxy:%h:%p@{name}",
            "",
        ]
    lines += [
        f"Host *.{config.cluster_name} !{alias}",
        "    HostName %h",
        *forward,
        f"    ProxyCommand {hop} -s proxy:%h:%p",
    ]
    return "\n".join(lines) + "\n"


def _one_hop_block(config: Config) -> str:
    forward = ["    ForwardAgent yes"] if forwards_agent(config) else []
    lines = [
        f"# auditor: nodes of cluster {config.cluster_name} through the recording proxy,",
        "# one SSH layer (`auditor config ssh --nested` for the ssh-in-ssh form).",
        *_upstream_comment(config),
        "# Trust the host CA once for every node:",
        "#   auditor ca export --type=host >> ~/.ssh/known_hosts",
    ]
    for name in sorted(config.trusted_clusters):
        lines += [
            f"Host *.{name}.{config.cluster_name}",
            *forward,
            f"    ProxyCommand {connect_command(config, name)}",
            "    ProxyUseFdpass yes",
            "",
        ]
    lines += [
        f"Host *.{config.cluster_name} !{proxy_alias(config)}",
        *forward,
        f"    ProxyCommand {connect_command(config)}",
        "    ProxyUseFdpass yes",
    ]
    return "\n".join(lines) + "\n"
