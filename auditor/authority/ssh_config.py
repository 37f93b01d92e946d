"""The ``~/.ssh/config`` block that sends OpenSSH through the proxy.

Agent forwarding is set twice, as the reference explains: on the outer hop
(mandatory, or the recording proxy cannot reach the node) and on the inner
one (so the user's agent is available on the node too).
"""

from __future__ import annotations

from auditor.config import Config


def proxy_alias(config: Config) -> str:
    """The name users type for the proxy; it is in the proxy's host certificate."""
    return config.public_addr[0] if config.public_addr else f"proxy.{config.cluster_name}"


def ssh_config_block(config: Config) -> str:
    alias = proxy_alias(config)
    listen = config.listen_addr
    host = "127.0.0.1" if listen.host in ("0.0.0.0", "::") else listen.host
    port = listen.port
    hop = f"ssh -o 'ForwardAgent yes' -p {port} %r@{alias}"
    lines = [
        f"# auditor: nodes of cluster {config.cluster_name} through the recording proxy.",
        "# Trust the host CA once for the proxy and every node:",
        "#   auditor ca export --type=host >> ~/.ssh/known_hosts",
        f"Host {alias}",
        f"    HostName {host}",
        f"    Port {port}",
        # Verify the proxy by its name, not by the address it is reached at.
        f"    HostKeyAlias {alias}",
        "    ProxyCommand none",
        "    ForwardAgent yes",
        "",
    ]
    # OpenSSH takes the first value it finds for each option, so the more
    # specific trusted-cluster patterns come before the cluster's own.
    for name in sorted(config.trusted_clusters):
        lines += [
            f"Host *.{name}.{config.cluster_name}",
            "    HostName %h",
            "    ForwardAgent yes",
            f"    ProxyCommand {hop} -s proxy:%h:%p@{name}",
            "",
        ]
    lines += [
        f"Host *.{config.cluster_name} !{alias}",
        "    HostName %h",
        "    ForwardAgent yes",
        f"    ProxyCommand {hop} -s proxy:%h:%p",
    ]
    return "\n".join(lines) + "\n"
