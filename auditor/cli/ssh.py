"""``auditor ssh`` (OpenSSH through the proxy, like ``tsh ssh``) and ``auditor connect``.

``auditor ssh`` runs the system's ``ssh`` with what ``auditor config ssh``
would have put in ~/.ssh/config: the one-hop ProxyCommand with
``ProxyUseFdpass``, agent forwarding when ``upstream_auth: agent`` needs it,
and the host CA as a known host; every
other option goes to ssh as it is, and ssh's exit status is ours (ssh
replaces this process). First it checks the certificates ssh would offer
(``auditor.authority.preflight``): when none can log in, one line says why,
the exit status is 255 and no connection is made. ``auditor connect`` is
dispatched before any of this is imported (``auditor.cli.main``); it is
registered here so that ``auditor --help`` lists it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from typing import Any

from auditor.authority.ca import export_line
from auditor.authority.preflight import preflight
from auditor.authority.ssh_config import connect_command, forwards_agent
from auditor.cli.context import Context, common_options
from auditor.datadir import write_private_file
from auditor.errors import AuditorError

KNOWN_HOSTS = "known_hosts"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "ssh",
        help="OpenSSH's ssh through the recording proxy, one hop (like `tsh ssh`)",
        usage="auditor ssh [ssh options] [user@]host [command]",
        description="auditor ssh [ssh options] [user@]host [command]: every option is ssh's; "
        "--port=N is -p N.",
        parents=[common_options()],
        add_help=False,
    )
    # auditor.cli.main hands everything after `ssh` over as ssh_args.
    p.set_defaults(handler=cmd_ssh, ssh_args=[])

    p = sub.add_parser(
        "connect",
        help="the one-hop ProxyCommand: auditor connect --proxy HOST:PORT %%h:%%p",
        add_help=False,
    )
    p.add_argument("connect_args", nargs=argparse.REMAINDER)


def ssh_argv(ctx: Context, args: list[str]) -> list[str]:
    """The ssh command line for ``args``."""
    ssh = shutil.which("ssh")
    if ssh is None:
        raise AuditorError(
            "ssh not found: install OpenSSH's client (apt-get install openssh-client)"
        )
    known = ctx.data_dir / KNOWN_HOSTS
    line = export_line(ctx.data_dir_path, "host", ctx.config.cluster_name)
    write_private_file(known, (line + "\n").encode(), 0o644)
    user_known = os.path.expanduser("~/.ssh/known_hosts")
    passed: list[str] = []
    for i, arg in enumerate(args):
        if arg.startswith("--port="):
            passed += ["-p", arg.partition("=")[2]]
        elif arg == "--port" and i + 1 < len(args):
            continue  # its value follows
        elif i and args[i - 1] == "--port":
            passed += ["-p", arg]
        else:
            passed.append(arg)
    return [
        ssh,
        "-o",
        f"ProxyCommand={connect_command(ctx.config)}",
        "-o",
        "ProxyUseFdpass=yes",
        *(["-o", "ForwardAgent=yes"] if forwards_agent(ctx.config) else []),
        "-o",
        f"UserKnownHostsFile={known} {user_known}",
        *passed,
    ]


def cmd_ssh(ctx: Context) -> int:
    args = list(ctx.args.ssh_args)
    if not args:
        raise AuditorError("auditor ssh: expected [ssh options] [user@]host [command]")
    argv = ssh_argv(ctx, args)
    # Said here, without a round trip: the line the proxy would send as a banner.
    refusal = preflight(argv)
    if refusal is not None:
        print(refusal, file=sys.stderr)
        return 255  # ssh's status for a connection that did not happen
    os.execv(argv[0], argv)
    return 255  # not reached: ssh's exit status is the process's
