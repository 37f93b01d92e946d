"""Putting a user certificate into the running ssh-agent (``auditor login``)."""

from __future__ import annotations

import os
import time

import asyncssh
from asyncssh.agent import SSHAgentKeyPair

from auditor.authority.ca import IssuedCertificate
from auditor.errors import AuditorError

NO_AGENT = (
    "no ssh-agent running: SSH_AUTH_SOCK is not set; start one with `eval $(ssh-agent)` "
    "(OpenSSH's ssh-agent: GNOME Keyring and gpg-agent do not support certificates)"
)


def agent_socket() -> str:
    path = os.environ.get("SSH_AUTH_SOCK")
    if not path:
        raise AuditorError(NO_AGENT)
    return path


async def load_into_agent(issued: IssuedCertificate, comment: str) -> int:
    """Add the key and certificate; drop earlier identities with the same comment.

    Returns how many stale identities were removed. The agent forgets the
    key when the certificate expires, so no dead certificate is ever offered
    (an offered dead certificate still costs one of sshd's MaxAuthTries).
    """
    path = agent_socket()
    try:
        agent = await asyncssh.connect_agent(path)
    except OSError as exc:
        raise AuditorError(f"cannot reach the ssh-agent at {path}: {exc.strerror or exc}") from None
    if agent is None:
        raise AuditorError(f"cannot reach the ssh-agent at {path}")
    async with agent:
        removed = 0
        for old in await agent.get_keys():
            if isinstance(old, SSHAgentKeyPair) and old.get_comment() == comment:
                await old.remove()
                removed += 1
        issued.key.set_comment(comment)
        issued.cert.set_comment(comment)
        lifetime = max(1, issued.valid_before - int(time.time()))
        try:
            await agent.add_keys([(issued.key, issued.cert)], lifetime=lifetime)
        except ValueError as exc:
            raise AuditorError(
                f"the ssh-agent at {path} refused the certificate ({exc}); "
                "use OpenSSH's ssh-agent, which supports certificates"
            ) from None
    return removed
