"""``auditor ca ...``, ``auditor login``, ``auditor config ssh``."""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from auditor.authority.agent import load_into_agent
from auditor.authority.audit_key import audit_export_line, init_audit_key
from auditor.authority.bundle import export_bundle, import_bundle
from auditor.authority.ca import (
    export_line,
    init_authorities,
    load_authority,
    mint_host_certificate,
    mint_user_certificate,
    write_host_files,
)
from auditor.authority.ssh_config import ssh_config_block
from auditor.cli.context import Context, common_options
from auditor.durations import format_duration, parse_duration
from auditor.errors import AuditorError, UsageError

DEFAULT_HOST_TTL = "52w"
DEFAULT_USER_TTL = "12h"


def register(sub: Any) -> None:
    common = common_options()
    ca = sub.add_parser("ca", help="certificate authorities", parents=[common])
    ca_sub = ca.add_subparsers(dest="ca_command", metavar="ACTION", parser_class=type(ca))
    ca.set_defaults(default_handler=lambda ctx: ca.print_help())

    p = ca_sub.add_parser(
        "init", help="create the user and host CAs and the audit signing key", parents=[common]
    )
    p.set_defaults(handler=cmd_ca_init)

    p = ca_sub.add_parser(
        "export",
        help="print a CA public key for authorized_keys/TrustedUserCAKeys or known_hosts",
        description="--type prints a CA's public line; --private --out FILE writes both "
        "CAs' private keys (0600) for `auditor ca import` on another proxy.",
        parents=[common],
    )
    p.add_argument(
        "--type",
        choices=["user", "host", "audit"],
        dest="ca_type",
        help="audit: the public key that checks signed recordings (`auditor verify --key`)",
    )
    p.add_argument(
        "--private",
        action="store_true",
        help="both CAs' private keys, for another proxy of the fleet (needs --out)",
    )
    p.add_argument("--out", metavar="FILE", help="with --private: the bundle file to create")
    p.set_defaults(handler=cmd_ca_export)

    p = ca_sub.add_parser(
        "import",
        help="install the CAs of `ca export --private` (another proxy's), never replacing others",
        parents=[common],
    )
    p.add_argument("bundle", metavar="FILE", help="the bundle file, or - for standard input")
    p.set_defaults(handler=cmd_ca_import)

    p = ca_sub.add_parser(
        "sign", help="issue a host key and certificate for an sshd node", parents=[common]
    )
    p.add_argument("--host", required=True, help="node name(s), comma-separated")
    p.add_argument("--format", required=True, choices=["openssh"], dest="fmt")
    p.add_argument("--out", default=".", metavar="DIR", help="where to write the files")
    p.add_argument("--ttl", default=DEFAULT_HOST_TTL, help=f"validity (default {DEFAULT_HOST_TTL})")
    p.set_defaults(handler=cmd_ca_sign)

    p = sub.add_parser(
        "login", help="put a user certificate into the running ssh-agent", parents=[common]
    )
    p.add_argument("--user", required=True)
    p.add_argument("--ttl", default=DEFAULT_USER_TTL, help=f"validity (default {DEFAULT_USER_TTL})")
    p.set_defaults(handler=cmd_login)

    cfg = sub.add_parser("config", help="client configuration snippets", parents=[common])
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="WHAT", parser_class=type(cfg))
    cfg.set_defaults(default_handler=lambda ctx: cfg.print_help())
    p = cfg_sub.add_parser("ssh", help="print the ~/.ssh/config block", parents=[common])
    p.add_argument(
        "--nested",
        action="store_true",
        help="the reference's ssh-in-ssh form (ssh ... -s proxy:%%h:%%p) instead of one hop",
    )
    p.set_defaults(handler=cmd_config_ssh)


def cmd_ca_init(ctx: Context) -> int:
    for ca_type, (key, created) in init_authorities(ctx.data_dir).items():
        state = "created" if created else "already exists"
        print(f"{ca_type} CA {state}: {key.get_fingerprint()}")
    audit, created = init_audit_key(ctx.data_dir)
    state = "created" if created else "already exists"
    print(f"audit signing key {state}: {audit.get_fingerprint()}")
    return 0


def cmd_ca_export(ctx: Context) -> int:
    a = ctx.args
    if a.private:
        if a.ca_type:
            raise UsageError("--private exports both CAs: drop --type")
        if not a.out:
            raise UsageError("--private needs --out FILE (private keys never go to a terminal)")
        export_bundle(ctx.data_dir_path, Path(a.out))
        print(
            f"wrote both CAs' and the audit key's private keys to {a.out} (0600): "
            f"`auditor ca import {a.out}`"
        )
        print("on the other proxy, then delete the file")
        return 0
    if a.out:
        raise UsageError("--out: only with --private")
    if not a.ca_type:
        raise UsageError(
            "ca export: expected --type=user, --type=host, --type=audit or --private --out FILE"
        )
    if a.ca_type == "audit":
        print(audit_export_line(ctx.data_dir_path, ctx.config.cluster_name))
        return 0
    print(export_line(ctx.data_dir_path, a.ca_type, ctx.config.cluster_name))
    return 0


def cmd_ca_import(ctx: Context) -> int:
    for name, (fingerprint, state) in import_bundle(ctx.data_dir, ctx.args.bundle).items():
        what = "audit signing key" if name == "audit" else f"{name} CA"
        print(f"{what} {state}: {fingerprint}")
        if state in ("created here", "kept"):
            print(
                "  the bundle has no audit key (exported before audit keys): every proxy "
                "should sign with one key, so export a bundle again from the proxy whose "
                "key you keep (`auditor ca export --private`) and import it on the others"
            )
    return 0


def cmd_ca_sign(ctx: Context) -> int:
    args: argparse.Namespace = ctx.args
    names = [n.strip() for n in args.host.split(",") if n.strip()]
    if not names:
        raise AuditorError("--host: expected a node name, e.g. --host=node.example.com")
    ttl = parse_duration(args.ttl, "--ttl")
    ca = load_authority(ctx.data_dir_path, "host")
    issued = mint_host_certificate(ca, names, ttl)
    key_path, cert_path = write_host_files(issued, Path(args.out), names[0])
    print(f"wrote {key_path} and {cert_path} (valid {format_duration(ttl)})")
    print("add to sshd_config and restart sshd:")
    print(f"  HostKey {key_path.resolve()}")
    print(f"  HostCertificate {cert_path.resolve()}")
    return 0


def cmd_login(ctx: Context) -> int:
    user = ctx.args.user
    ttl = parse_duration(ctx.args.ttl, "--ttl")
    logins = ctx.config.logins_for(user)
    if logins is None:
        logins = (user,)
    elif not logins:
        where = ctx.config.source or "the config"
        if ctx.config.users is not None and user in ctx.config.users:
            roles = ", ".join(ctx.config.users[user].roles)
            raise AuditorError(f"user {user!r} has no logins: its roles ({roles}) list none")
        raise AuditorError(f"unknown user {user!r}: not in the users section of {where}")
    ca = load_authority(ctx.data_dir_path, "user")
    issued = mint_user_certificate(ca, user, list(logins), ttl)
    comment = f"auditor:{user}"
    asyncio.run(load_into_agent(issued, comment))
    expires = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(issued.valid_before))
    print(f"logged in as {user}: certificate {comment} for logins {', '.join(logins)}")
    print(f"valid until {expires}; check with `ssh-add -L`")
    return 0


def cmd_config_ssh(ctx: Context) -> int:
    print(ssh_config_block(ctx.config, nested=ctx.args.nested), end="")
    return 0
