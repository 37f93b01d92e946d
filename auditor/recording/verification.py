"""Checking a recording's hash chain and saying where it breaks.

Unlike the reader, verify never stops at the first problem: it keeps the
stored tag of every record it has seen, so after a dropped or moved record
it can pick the chain up again and name each damaged record separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from auditor.recording.format import (
    ALL_STREAMS,
    ANCHOR_SUFFIX,
    HEADER,
    MAX_DATA,
    SEAL_DATA,
    TAG_SIZE,
    Internal,
    RecordingError,
    record_tag,
)
from auditor.recording.reader import RecordingReader
from auditor.recording.source import RecordingLocation


@dataclass(frozen=True)
class Problem:
    offset: int
    record: int | None
    kind: str  # changed | removed | inserted | reordered | corrupt | appended | anchor | signature
    message: str

    def __str__(self) -> str:
        if self.offset < 0:  # about the signed anchor, not a place in the file
            return self.message
        return f"offset {self.offset}: {self.message}"


@dataclass
class Verdict:
    path: Path
    records: int = 0
    sealed: bool = False
    final_hash: str = ""
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What the signed anchor is checked against (auditor.recording.anchor).
    source_name: str = ""
    session_id: str | None = None
    started: float = 0.0
    sealed_at: float | None = None  # the SEAL record's clock
    anchor_sidecar: bytes | None = None
    unsigned: bool = False  # from before the audit key: reported, not failed

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.problems:
            more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            what = "SIGNATURE FAILED" if self.problems[0].kind == "signature" else "TAMPERED"
            return f"{what}: {self.problems[0]}{more}"
        state = "sealed" if self.sealed else "not sealed (live or interrupted)"
        notes = "".join(f"; {n}" for n in self.notes)
        return f"ok: {self.records} records, {state}{notes}"


def verify_recording(
    path: RecordingLocation | Path | str, expected_final: str | None = None
) -> Verdict:
    """Check every record of ``path``; ``expected_final`` is the anchor the index kept.

    Raises ``RecordingError`` only when the file header itself is unreadable.
    """
    reader = RecordingReader(path)
    verdict = Verdict(reader.path, source_name=reader.source.name)
    session_id, started = reader.meta.get("session_id"), reader.meta.get("start")
    verdict.session_id = str(session_id) if session_id is not None else None
    verdict.started = float(started) if isinstance(started, (int, float)) else 0.0
    verdict.anchor_sidecar = reader.source.sidecar(ANCHOR_SUFFIX)
    problems = verdict.problems
    stored: dict[int, bytes] = {-1: reader.first_tag}  # seq -> tag as written in the file
    computed: dict[int, bytes] = {-1: reader.first_tag}  # seq -> tag the content gives
    missing: list[list[int]] = []  # [first seq, last seq, offset where expected]
    expected = 0
    size = reader.source.size()
    offset = reader.header_len
    # Where the writer last finished a flush, by the sidecar; damage before it is not a tear.
    last_checkpoint = reader.index()[-1].offset
    with reader.source.open() as fh:
        fh.seek(offset)
        while offset < size:
            header = fh.read(HEADER.size)
            if len(header) < HEADER.size:
                break
            seq, t, stream, n = HEADER.unpack(header)
            end = offset + HEADER.size + n + TAG_SIZE
            if stream not in ALL_STREAMS or n > MAX_DATA:
                if verdict.sealed or offset < last_checkpoint or end <= size:
                    problems.append(
                        Problem(offset, None, "corrupt", "record header is corrupt: cannot go on")
                    )
                break
            if end > size:
                break
            data = fh.read(n)
            tag = fh.read(TAG_SIZE)
            if not verdict.sealed and seq != expected:
                renumbered = HEADER.pack(expected, t, stream, n)
                if _tag_matches(stored, computed, expected, renumbered, data, tag):
                    problems.append(
                        Problem(
                            offset, expected, "changed", f"record {expected}'s number was altered"
                        )
                    )
                    seq, header = expected, renumbered
            if verdict.sealed:
                problems.append(
                    Problem(offset, seq, "appended", f"record {seq} after the end record")
                )
            elif seq > expected:
                missing.append([expected, seq - 1, offset])
            elif seq < expected:
                gap = next((g for g in missing if g[0] <= seq <= g[1]), None)
                if gap is not None:
                    problems.append(
                        Problem(
                            offset,
                            seq,
                            "reordered",
                            f"record {seq} is out of order (found after record {expected - 1})",
                        )
                    )
                    _punch(missing, gap, seq)
                else:
                    problems.append(
                        Problem(offset, seq, "inserted", f"record {seq} is a duplicate or inserted")
                    )
            if not verdict.sealed:
                mine = None
                for prev in (stored.get(seq - 1), computed.get(seq - 1)):
                    if prev is not None:
                        mine = record_tag(prev, header, data)
                        if mine == tag:
                            break
                if mine is not None and mine != tag and seq not in stored:
                    problems.append(
                        Problem(offset, seq, "changed", f"record {seq} was changed (hash mismatch)")
                    )
                stored.setdefault(seq, tag)
                computed.setdefault(seq, mine or tag)
                expected = max(expected, seq + 1)
                if stream == Internal.CHECKPOINT:
                    last_checkpoint = max(last_checkpoint, end)
                elif stream == Internal.SEAL:
                    verdict.sealed = True
                    verdict.final_hash = f"{seq}:{tag.hex()}"
                    if len(data) == SEAL_DATA.size:
                        (verdict.sealed_at,) = SEAL_DATA.unpack(data)
            verdict.records += 1
            offset = end
    for lo, hi, at in missing:
        what = f"record {lo} was" if lo == hi else f"records {lo} to {hi} were"
        problems.append(Problem(at, lo, "removed", f"{what} removed"))
    problems.sort(key=lambda p: p.offset)
    if not verdict.sealed:
        verdict.final_hash = f"{expected - 1}:{stored.get(expected - 1, b'').hex()}"
    if offset < size and not problems:
        verdict.notes.append(f"ignored an incomplete final write of {size - offset} bytes")
    if expected_final and expected_final != verdict.final_hash:
        problems.append(
            Problem(
                offset,
                None,
                "anchor",
                f"the chain ends at {verdict.final_hash or 'nothing'}, "
                f"but the index recorded {expected_final} when the session ended "
                "(truncated, or rewritten with a new chain)",
            )
        )
    return verdict


def _tag_matches(
    stored: dict[int, bytes],
    computed: dict[int, bytes],
    seq: int,
    header: bytes,
    data: bytes,
    tag: bytes,
) -> bool:
    for prev in (stored.get(seq - 1), computed.get(seq - 1)):
        if prev is not None and record_tag(prev, header, data) == tag:
            return True
    return False


def _punch(missing: list[list[int]], gap: list[int], seq: int) -> None:
    """``seq`` turned up after all: take it out of its gap."""
    i = missing.index(gap)
    lo, hi, at = gap
    parts = [[lo, seq - 1, at], [seq + 1, hi, at]]
    missing[i : i + 1] = [p for p in parts if p[0] <= p[1]]


__all__ = ["Problem", "RecordingError", "Verdict", "verify_recording"]
