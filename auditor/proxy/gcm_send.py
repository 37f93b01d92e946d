"""Channel data sent under AES-GCM with fewer copies than asyncssh's general path.

Every byte the node prints is packetised and encrypted twice by the proxy
(inner connection, then the outer one that carries it). asyncssh's
``send_packet`` serves every cipher, MAC and compressor, and on the way
copies each 32 KiB payload five times (payload, padding, header plus
ciphertext, ciphertext plus tag) and formats a packet log line whether or
not packet logging is on. For channel data on an established AES-GCM
connection this path builds the plaintext once and sends header plus
ciphertext once; the bytes on the wire are the same. Anything else (key
exchange due or running, compression, another cipher) goes to asyncssh.

It reads asyncssh's connection and cipher state (``_send_encryption``,
``_send_seq``, the GCM key and IV); asyncssh is pinned below 3 and every
proxy test runs this path against OpenSSH.
"""

from __future__ import annotations

import os
import time
from typing import Any

from asyncssh.constants import MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA
from asyncssh.encryption import GCMEncryption
from asyncssh.logging import SSHLogger
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_DATA = frozenset((MSG_CHANNEL_DATA, MSG_CHANNEL_EXTENDED_DATA))
POOL = 1 << 16


class _Padding:
    """Random padding from the OS's CSPRNG, fetched 64 KiB at a time: one
    ``os.urandom`` per packet (a system call, ~30 us here) was a twentieth of
    the proxy's time on a bulk transfer. Each byte is used once."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        if self._at + n > len(self._pool):
            self._pool, self._at = os.urandom(POOL), 0
        self._at += n
        return self._pool[self._at - n : self._at]


_padding = _Padding()  # the event loop's thread is the only sender


def send_channel_data(conn: Any, pkttype: int, args: tuple[bytes, ...], handler: Any) -> bool:
    """Send one data packet the short way; False if asyncssh must send it."""
    enc = conn._send_encryption
    if (
        pkttype not in _DATA
        or type(enc) is not GCMEncryption
        or conn._compressor is not None
        or not (conn._kex_complete and conn._auth_complete)
        or conn._rekey_bytes_sent >= conn._rekey_bytes
        or (conn._rekey_seconds and time.monotonic() >= conn._rekey_time)
    ):
        return False
    cipher = enc._cipher
    payload_len = 1 + sum(map(len, args))
    blocksize = conn._send_blocksize
    padlen = -(conn._send_enchdrlen + payload_len) % blocksize
    if padlen < 4:
        padlen += blocksize
    pktlen = 1 + payload_len + padlen
    hdr = pktlen.to_bytes(4, "big")
    plain = b"".join((bytes((padlen, pkttype)), *args, _padding.take(padlen)))
    aead = conn.__dict__.get("_auditor_aead")
    if aead is None or aead[0] is not cipher._key:
        aead = (cipher._key, AESGCM(cipher._key))
        conn._auditor_aead = aead
    sealed = aead[1].encrypt(cipher._iv, plain, hdr)  # ciphertext, then the tag
    cipher._update_iv()
    conn._send(hdr + sealed)
    seq = conn._send_seq
    conn._send_seq = (seq + 1) & 0xFFFFFFFF
    conn._rekey_bytes_sent += pktlen
    if SSHLogger._debug_level >= 3:  # packet logging on: log as asyncssh would
        (handler or conn).log_sent_packet(pkttype, seq, bytes((pkttype,)) + b"".join(args))
    return True
