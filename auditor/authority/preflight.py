"""What ssh is about to offer, checked before ``auditor ssh`` connects.

A certificate that cannot log in (none in the agent, expired, not for this
login) is said in the line the proxy's auth banner would say, without the
round trip. ssh itself resolves the login and the agent (``ssh -G``, with
the user's options and ssh_config), so the check sees what ssh will do.
Only a sure refusal stops the connection: when ssh's settings can't be read
ssh runs and speaks for itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import asyncssh
from asyncssh.public_key import decode_ssh_certificate

from auditor.authority.agent import NO_AGENT
from auditor.authority.refusal import CertificateFacts, certificate_refusal, no_certificate
from auditor.textsafe import visible

CERT_SUFFIX = b"-cert-v01@openssh.com"


def ssh_settings(argv: list[str]) -> dict[str, list[str]] | None:
    """``ssh -G`` for the command line ``argv`` (ssh first): its settings, each a list."""
    try:
        out = subprocess.run(
            [argv[0], "-G", *argv[1:]],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=10,
            text=True,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    settings: dict[str, list[str]] = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key.lower(), []).append(value)
    return settings


def _agent_path(settings: dict[str, list[str]]) -> str | None:
    named = (settings.get("identityagent") or ["SSH_AUTH_SOCK"])[0]
    if named.lower() == "none":
        return None
    if named in ("SSH_AUTH_SOCK", "$SSH_AUTH_SOCK"):
        return os.environ.get("SSH_AUTH_SOCK") or None
    return os.path.expanduser(os.path.expandvars(named))


async def _agent_certificates(path: str) -> list[CertificateFacts] | None:
    """The agent's certificates; None when there is no agent to ask."""
    try:
        agent = await asyncssh.connect_agent(path)
    except OSError:
        return None
    if agent is None:
        return None
    async with agent:
        keys = await agent.get_keys()
    return [
        CertificateFacts.of(decode_ssh_certificate(k.public_data))
        for k in keys
        if k.algorithm.endswith(CERT_SUFFIX)
    ]


def _file_certificates(settings: dict[str, list[str]]) -> list[CertificateFacts]:
    """Certificates ssh reads from files: CertificateFile, and IDENTITY-cert.pub."""
    paths = settings.get("certificatefile", []) + [
        f"{p}-cert.pub" for p in settings.get("identityfile", []) if p.lower() != "none"
    ]
    found = []
    for name in paths:
        path = Path(os.path.expanduser(name))
        try:
            found.append(CertificateFacts.of(asyncssh.read_certificate(path)))
        except (OSError, asyncssh.KeyImportError):
            continue  # absent or not a certificate: ssh skips it too
    return found


def preflight(argv: list[str]) -> str | None:
    """The line that explains why ssh ``argv`` would be refused; None if it may log in."""
    settings = ssh_settings(argv)
    if settings is None or "user" not in settings:
        return None
    login = settings["user"][0]
    path = _agent_path(settings)
    in_agent = asyncio.run(_agent_certificates(path)) if path else None
    certs = (in_agent or []) + _file_certificates(settings)
    now = time.time()
    # The first auditor certificate that may log in, else the first one's reason.
    lines = [certificate_refusal(c, login, now, trusted_ca=True) for c in certs if c.user]
    if any(line is None for line in lines):
        return None
    if lines:
        return lines[0]
    if in_agent is None and not certs:
        if path is None:
            return f"auditor: {NO_AGENT}"
        return f"auditor: cannot reach the ssh-agent at {visible(path)}: is it running?"
    return no_certificate()
