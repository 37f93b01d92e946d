"""``auditor verify``: hash chains and signed anchors (DESIGN §13).

Against the index (the default): every session's chain, its anchor in the
index, and the signed anchor both in the index and beside the recording,
checked with this data directory's audit key. With ``--key FILE``: recording
files (each with its ``.anchor`` sidecar beside it) checked with nothing but
the audit public key: no data directory, index or CA.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from auditor.errors import AuditorError, UsageError
from auditor.index.rows import Session
from auditor.recording.format import ANCHOR_SUFFIX, INDEX_SUFFIX, KEYFRAMES_SUFFIX, RecordingError
from auditor.textsafe import visible

if TYPE_CHECKING:
    from auditor.cli.context import Context
    from auditor.recording.anchor import IndexAnchor


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "targets",
        nargs="*",
        metavar="ID|FILE",
        help="sessions to check (default: all); with --key, recording files (.rec)",
    )
    p.add_argument(
        "--key",
        metavar="AUDIT.PUB",
        help="check recording files (each with its .anchor beside it) with this audit "
        "public key alone (`auditor ca export --type=audit`); needs no data directory",
    )


def cmd_verify(ctx: Context) -> int:
    if ctx.args.key:
        return verify_files(ctx.args.key, ctx.args.targets)
    return verify_index(ctx)


def verify_index(ctx: Context) -> int:
    from auditor.authority.audit_key import audit_public_key, key_created
    from auditor.recording.anchor import check_signed
    from auditor.recording.verification import verify_recording

    ids: list[str] = ctx.args.targets
    index = ctx.open_index()
    try:
        targets = [index.get_session(i) for i in ids] if ids else index.sessions(limit=None)
    finally:
        index.close()
    trusted = audit_public_key(ctx.data_dir_path)
    created = key_created(trusted) if trusted is not None else None
    checked = bad = unsigned = 0
    for s in targets:
        if s.recording is None:
            if ids:
                raise AuditorError(f"session {s.id[:8]} has no recording to verify")
            continue
        checked += 1
        try:
            verdict = verify_recording(s.recording, s.recording_hash)
            if not s.live:  # a live recording has no anchor yet
                check_signed(verdict, trusted, _index_anchor(s), created)
            line, ok = verdict.describe(), verdict.ok
            unsigned += verdict.unsigned and verdict.ok
        except RecordingError as exc:
            line, ok = f"UNREADABLE: {exc}", False
        if not ok:
            bad += 1
        # A damaged recording's header is not ours to trust: nothing of it raw.
        print(visible(f"{s.id[:8]}  {line}" + ("" if ok else f"  ({s.recording_path})")))
    if not ids:
        if unsigned:  # not failures: recorded before the audit key, imported, interrupted
            print(f"{unsigned} of them unsigned, as each says")
        print(f"{checked} recordings checked, {bad} damaged")
    return 1 if bad else 0


def _index_anchor(s: Session) -> IndexAnchor:
    from auditor.recording.anchor import IndexAnchor, SignedAnchor

    signed = None
    if s.anchor_statement is not None or s.anchor_signature is not None:
        statement, signature = s.anchor_statement or "", s.anchor_signature or ""
        signed = SignedAnchor(statement, signature, s.anchor_key or "")
    return IndexAnchor(s.id, s.recording_hash, signed, s.status, s.start, s.kind)


def verify_files(key_file: str, files: list[str]) -> int:
    """``verify --key``: each file's chain, its sidecar's statement and signature."""
    from auditor.authority.audit_key import read_key_file
    from auditor.recording.anchor import check_signed
    from auditor.recording.verification import verify_recording

    if not files:
        raise UsageError("verify --key: name the recording files to check (FILE.rec ...)")
    trusted = read_key_file(key_file)
    bad = 0
    for name in files:
        path = Path(name)
        try:
            if path.name.endswith((ANCHOR_SUFFIX, INDEX_SUFFIX, KEYFRAMES_SUFFIX)):
                raise AuditorError("a sidecar: name the recording beside it")
            if not path.is_file():
                raise AuditorError("no such file" if not path.exists() else "not a file")
            verdict = verify_recording(path)
            check_signed(verdict, trusted)
            line, ok = verdict.describe(), verdict.ok
        except RecordingError as exc:
            line, ok = f"UNREADABLE: {exc}", False
        except AuditorError as exc:
            line, ok = f"FAILED: {exc}", False
        if not ok:
            bad += 1
        print(visible(f"{name}  {line}"), file=sys.stdout)
    if len(files) > 1:
        print(f"{len(files)} recordings checked, {bad} failed")
    return 1 if bad else 0
