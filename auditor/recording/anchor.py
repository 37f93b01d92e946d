"""Signed hash anchors (DESIGN §13): what a sealed recording's proxy vouches for.

The hash chain proves a recording was not changed after its anchor (the
chain's last ``seq:tag``) was written; whoever can write both the index and
the storage could still replace the two together. So the proxy that seals a
recording signs a short statement with the audit key: the session, the final
chain hash, the record count, and the recording's start and seal times, all
of which ``verify`` recomputes from the file alone.

The statement is text, versioned, fields in a fixed order (``statement``).
The signature is OpenSSH's SSHSIG format (what ``ssh-keygen -Y sign``
writes, namespace ``auditor-anchor``): an outsider with the audit public key
and OpenSSH alone can check it, no auditor needed::

    jq -j .statement X.rec.anchor > statement
    jq -r .signature X.rec.anchor > statement.sig
    echo "auditor $(cat audit.pub)" > allowed_signers
    ssh-keygen -Y verify -f allowed_signers -I auditor -n auditor-anchor \\
        -s statement.sig < statement

The signed anchor is kept twice: in the index (three columns beside
``recording_hash``) and in a sidecar beside the recording (``X.rec.anchor``,
JSON; an object beside the recording's in a bucket), so either can be checked
against the other and against the file.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncssh

from auditor.datadir import write_private_file
from auditor.errors import AuditorError
from auditor.recording.format import ANCHOR_SUFFIX
from auditor.recording.verification import Problem, Verdict
from auditor.recording.writer import RecordingWriter

VERSION = "auditor-anchor-v1"
SIDECAR_FORMAT = "auditor-anchor/1"
NAMESPACE = b"auditor-anchor"
_MAGIC = b"SSHSIG"
_HASH = b"sha512"
_ARMOR = ("-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----")


class AnchorError(AuditorError):
    """A signed anchor that cannot be read (not one that fails its check)."""


@dataclass(frozen=True)
class Statement:
    """What is signed. ``start`` and ``end`` are the recording's own: the header's
    start and the SEAL record's clock, so a file alone gives every field back."""

    session_id: str
    final_hash: str  # "seq:tag" of the SEAL record
    records: int
    start: float
    end: float

    def text(self) -> str:
        return (
            f"{VERSION}\n"
            f"session {self.session_id}\n"
            f"hash {self.final_hash}\n"
            f"records {self.records}\n"
            f"start {self.start:.6f}\n"
            f"end {self.end:.6f}\n"
        )

    @classmethod
    def parse(cls, text: str) -> Statement:
        lines = text.split("\n")
        names = ("session", "hash", "records", "start", "end")
        if len(lines) != len(names) + 2 or lines[0] != VERSION or lines[-1] != "":
            raise AnchorError(f"not an {VERSION} statement")
        values: list[str] = []
        for name, line in zip(names, lines[1:-1], strict=True):
            key, _, value = line.partition(" ")
            if key != name or not value:
                raise AnchorError(f"{VERSION} statement: expected {name!r}, got {line[:40]!r}")
            values.append(value)
        try:
            found = cls(values[0], values[1], int(values[2]), float(values[3]), float(values[4]))
        except ValueError:
            raise AnchorError(f"{VERSION} statement: a number is malformed") from None
        if found.text() != text:  # one text per statement: nothing extra is signed
            raise AnchorError(f"{VERSION} statement: not in its canonical form")
        return found

    def differences(self, other: Statement) -> list[str]:
        """The fields that differ, as ``name: this vs other``."""
        out = []
        for name in ("session_id", "final_hash", "records", "start", "end"):
            a, b = getattr(self, name), getattr(other, name)
            if name in ("start", "end"):
                a, b = f"{a:.6f}", f"{b:.6f}"
            if a != b:
                out.append(f"{name} {a} vs {b}")
        return out


@dataclass(frozen=True)
class SignedAnchor:
    statement: str  # Statement.text(), exactly as signed
    signature: str  # SSHSIG, armored
    key: str  # the signing key's SHA256 fingerprint

    @property
    def parsed(self) -> Statement:
        return Statement.parse(self.statement)

    def to_json(self) -> bytes:
        s = self.parsed
        doc = {
            "format": SIDECAR_FORMAT,
            "session_id": s.session_id,
            "final_hash": s.final_hash,
            "records": s.records,
            "start": s.start,
            "end": s.end,
            "statement": self.statement,
            "signature": self.signature,
            "key": self.key,
        }
        return json.dumps(doc, indent=1).encode() + b"\n"

    @classmethod
    def from_json(cls, raw: bytes, name: str) -> SignedAnchor:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict) or doc.get("format") != SIDECAR_FORMAT:
            raise AnchorError(f"{name}: not a signed anchor ({SIDECAR_FORMAT} JSON)")
        statement, signature, key = (doc.get(k) for k in ("statement", "signature", "key"))
        if not (isinstance(statement, str) and isinstance(signature, str) and isinstance(key, str)):
            raise AnchorError(f"{name}: the signed anchor lacks its statement, signature or key")
        signed = cls(statement, signature, key)
        s = signed.parsed
        listed = (doc.get("session_id"), doc.get("final_hash"), doc.get("records"))
        if listed != (s.session_id, s.final_hash, s.records) or (
            doc.get("start"),
            doc.get("end"),
        ) != (s.start, s.end):
            raise AnchorError(f"{name}: its fields disagree with its signed statement")
        return signed


def sign_statement(key: asyncssh.SSHKey, statement: Statement) -> SignedAnchor:
    text = statement.text()
    raw = key.sign(_signed_data(text.encode()), b"ssh-ed25519")
    blob = (
        _MAGIC
        + struct.pack(">I", 1)
        + _string(key.public_data)
        + _string(NAMESPACE)
        + _string(b"")
        + _string(_HASH)
        + _string(raw)
    )
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    armored = "\n".join([_ARMOR[0], *lines, _ARMOR[1]]) + "\n"
    return SignedAnchor(text, armored, str(key.get_fingerprint()))


def signature_problem(signed: SignedAnchor, trusted: asyncssh.SSHKey) -> str | None:
    """Why ``signed`` is not a good signature by ``trusted``; None if it is."""
    try:
        public, raw = _parse_signature(signed.signature)
    except AnchorError as exc:
        return str(exc)
    if public != trusted.public_data:
        other = base64.b64encode(hashlib.sha256(public).digest()).decode().rstrip("=")
        return f"signed by an unknown key (SHA256:{other}), not the audit key"
    if not trusted.verify(_signed_data(signed.statement.encode()), raw):
        return "the signature does not match the signed statement (forged or edited)"
    return None


def write_sidecar(recording: Path, signed: SignedAnchor, durable: bool = False) -> Path:
    """``durable``: on the disk before returning, as the proxy's seal wants it
    under ``recording_sync`` (a power cut must not keep a row whose anchor's
    signature is lost beside the file); ``recording_sync: off`` makes no sync."""
    path = sidecar_path(recording)
    write_private_file(path, signed.to_json(), durable=durable)
    return path


def sidecar_path(recording: Path) -> Path:
    return recording.with_name(recording.name + ANCHOR_SUFFIX)


def file_statement(verdict: Verdict) -> Statement | None:
    """The statement the recording itself gives (None unless sealed)."""
    if not verdict.sealed or verdict.sealed_at is None:
        return None
    seq = int(verdict.final_hash.partition(":")[0])
    return Statement(
        verdict.session_id or "", verdict.final_hash, seq + 1, verdict.started, verdict.sealed_at
    )


@dataclass(frozen=True)
class IndexAnchor:
    """What the index holds about one session's anchor."""

    session_id: str
    recording_hash: str | None
    signed: SignedAnchor | None
    status: str
    start: float
    kind: str | None = None


def check_signed(
    verdict: Verdict,
    trusted: asyncssh.SSHKey | None,
    index: IndexAnchor | None = None,
    key_created: float | None = None,
) -> None:
    """Add to ``verdict`` what the signatures say: a note when signed (or unsigned
    from before the audit key), a problem naming what does not hold otherwise.

    ``index`` None is ``verify --key``: the sidecar must be there and signed.
    """
    problems: list[str] = []
    sidecar, sidecar_error = None, None
    name = verdict.source_name + ANCHOR_SUFFIX
    if verdict.anchor_sidecar is not None:
        try:
            sidecar = SignedAnchor.from_json(verdict.anchor_sidecar, name)
        except AnchorError as exc:
            sidecar_error = str(exc)
    held = index.signed if index is not None else None
    if index is not None and held is None and sidecar is None and sidecar_error is None:
        _unsigned(verdict, index, trusted, key_created)
        return
    if sidecar_error is not None:
        problems.append(sidecar_error)
    elif sidecar is None:
        problems.append(f"no signed anchor beside the recording ({name} is missing)")
    for what, signed in (("the sidecar's", sidecar), ("the index's", held)):
        if signed is None or trusted is None:
            continue
        why = signature_problem(signed, trusted)
        if why is not None:
            problems.append(f"{what} anchor: {why}")
    if index is not None:
        if held is None:
            problems.append(
                "the index holds no signed anchor, but the recording has one "
                "(the index's anchor was cleared)"
            )
        else:
            try:
                mine = held.parsed
                if (mine.session_id, mine.final_hash) != (index.session_id, index.recording_hash):
                    problems.append(
                        f"the anchor in the index was edited: it says {index.recording_hash}, "
                        f"its signed statement {mine.final_hash}"
                    )
            except AnchorError as exc:
                problems.append(f"the index's signed anchor is unreadable: {exc}")
            if sidecar is not None and sidecar.statement != held.statement:
                problems.append("the sidecar and the index disagree about the signed anchor")
    if sidecar is not None:
        signed_here = sidecar.parsed
        recomputed = file_statement(verdict)
        if recomputed is None:
            problems.append("the recording is not sealed, but a sealed anchor was signed for it")
        elif diff := signed_here.differences(recomputed):
            problems.append(
                "the recording does not match its signed anchor (signed vs file: "
                + "; ".join(diff)
                + ")"
            )
    if problems:
        # First: a signature's failure explains the chain's problems that follow.
        verdict.problems[:0] = [Problem(-1, None, "signature", p) for p in problems]
    elif sidecar is not None and trusted is None:
        # A machine without the key can still compare the copies, not vouch for them.
        verdict.notes.append(
            f"anchor signed by {sidecar.key}, not checked: no audit key here "
            "(`auditor ca export --type=audit` on a proxy, then `verify --key`)"
        )
    elif sidecar is not None:
        verdict.notes.append(f"anchor signed by the audit key ({sidecar.key})")


def _unsigned(
    verdict: Verdict,
    index: IndexAnchor,
    trusted: asyncssh.SSHKey | None,
    key_created: float | None,
) -> None:
    verdict.unsigned = True
    if index.status == "interrupted":
        verdict.notes.append("unsigned (interrupted: its proxy never sealed it)")
    elif index.kind == "imported":
        verdict.notes.append("unsigned (imported from asciicast, not recorded by a proxy)")
    elif trusted is None:
        verdict.notes.append("unsigned")
    elif key_created is not None and index.start >= key_created:
        made = datetime.fromtimestamp(key_created, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        verdict.problems.insert(
            0,
            Problem(
                -1,
                None,
                "signature",
                f"unsigned, though it started after the audit key was made ({made}): "
                "replaced with its anchor, or sealed by a proxy without the audit key",
            ),
        )
    else:
        verdict.notes.append("unsigned (recorded before the audit key)")


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _signed_data(message: bytes) -> bytes:
    """What SSHSIG signs: the namespace and a hash of the message (PROTOCOL.sshsig)."""
    digest = hashlib.sha512(message).digest()
    return _MAGIC + _string(NAMESPACE) + _string(b"") + _string(_HASH) + _string(digest)


def _parse_signature(armored: str) -> tuple[bytes, bytes]:
    """The public key blob and the raw signature of an armored SSHSIG."""
    lines = [ln.strip() for ln in armored.strip().splitlines()]
    if len(lines) < 3 or (lines[0], lines[-1]) != _ARMOR:
        raise AnchorError("the signature is not an SSH signature")
    try:
        blob = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise AnchorError("the signature is not valid base64") from None
    fields: list[bytes] = []
    if not blob.startswith(_MAGIC) or blob[6:10] != struct.pack(">I", 1):
        raise AnchorError("the signature is not an SSHSIG version 1")
    at = 10
    for _ in range(5):
        if at + 4 > len(blob):
            raise AnchorError("the signature is truncated")
        (n,) = struct.unpack_from(">I", blob, at)
        fields.append(blob[at + 4 : at + 4 + n])
        at += 4 + n
    public, namespace, _reserved, hash_alg, raw = fields
    if at != len(blob) or len(raw) == 0:
        raise AnchorError("the signature is malformed")
    if namespace != NAMESPACE or hash_alg != _HASH:
        raise AnchorError(
            f"the signature is for namespace {namespace!r} with {hash_alg!r}, "
            f"not {NAMESPACE.decode()} with sha512"
        )
    return public, raw


def seal_anchor(
    key: asyncssh.SSHKey, session_id: str, writer: RecordingWriter, durable: bool = False
) -> SignedAnchor:
    """At seal time, on the recording thread: sign the closed ``writer``'s anchor
    and write its sidecar. The index gets the same object (``end_session``)."""
    assert writer.closed and writer.sealed_at is not None
    seq = int(writer.final_hash.partition(":")[0])
    statement = Statement(session_id, writer.final_hash, seq + 1, writer.start, writer.sealed_at)
    signed = sign_statement(key, statement)
    write_sidecar(writer.path, signed, durable)
    return signed
