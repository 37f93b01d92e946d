"""Typed rows the index hands out: sessions, failures, failure summaries, search hits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

from auditor.recording.source import RecordingLocation


class _Recorded:
    """Rows that keep where their recording is, as text (``recording_path``)."""

    recording_path: str | None

    @property
    def recording(self) -> RecordingLocation | None:
        """Where the recording is, typed (a file or an object); None: not recorded."""
        return RecordingLocation.of(self.recording_path) if self.recording_path else None


@dataclass(frozen=True)
class Session(_Recorded):
    id: str
    start: float
    status: str  # live | ended | interrupted
    connection_id: str | None = None
    user: str | None = None
    login: str | None = None
    node: str | None = None
    port: int | None = None
    cluster: str | None = None
    client_addr: str | None = None
    kind: str | None = None
    end: float | None = None
    exit_status: int | None = None
    exit_signal: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    command: str | None = None
    recording_path: str | None = None
    recording_hash: str | None = None
    # Set when an auditor asks for the session to end (`auditor terminate`):
    # a pending request while live, a record of who ended it and why after.
    terminated_by: str | None = None
    termination_reason: str | None = None
    # The proxy process writing it (host:pid:start), which a fleet's other
    # proxies check it against (``auditor.upkeep.recovery``).
    owner: str | None = None
    # The anchor signed by the proxy that sealed it (auditor.recording.anchor):
    # the statement's text, its SSHSIG signature, the audit key's fingerprint.
    anchor_statement: str | None = None
    anchor_signature: str | None = None
    anchor_key: str | None = None

    @property
    def live(self) -> bool:
        return self.status == "live"

    def duration(self, now: float) -> float:
        """Seconds so far for a live session, else from start to end."""
        return max(0.0, (self.end if self.end is not None else now) - self.start)

    def no_recording(self) -> str:
        """Why there is nothing to replay or export, in a user's words."""
        what = f"session {self.id[:8]}"
        if self.kind == "forward":
            return (
                f"{what} is a port forward: auditor keeps its endpoints, bytes and times "
                f"(`auditor sessions --json`), not its traffic, so there is nothing to replay"
            )
        if self.kind == "tcp":
            return (
                f"{what} was passed to the node unrecorded (session_recording: node or off); "
                f"the node's own logs are its record"
            )
        return f"{what} has no recording"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


SESSION_COLUMNS = tuple(f.name for f in dataclasses.fields(Session))


@dataclass(frozen=True)
class Failure:
    id: str
    time: float
    kind: str
    message: str
    hint: str | None = None
    user: str | None = None
    login: str | None = None
    node: str | None = None
    port: int | None = None
    cluster: str | None = None
    client_addr: str | None = None
    connection_id: str | None = None
    retries: int = 0
    detail: str | None = None
    extra: str | None = None  # JSON of fields the schema has no column for

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FAILURE_COLUMNS = tuple(f.name for f in dataclasses.fields(Failure))


@dataclass(frozen=True)
class KindSummary:
    """One failure kind at a glance: how often, how recently, and when (the TUI's chart)."""

    kind: str
    count: int
    last: float
    activity: list[int]  # failures per bucket, oldest first


class TextRow(NamedTuple):
    """One stretch of a session's text as the index stores it."""

    t: float  # seconds into the recording where the stretch starts
    text: str
    times: str = ""  # when each line was printed (auditor.index.linetimes)


@dataclass(frozen=True)
class SearchHit:
    session: Session
    t: float  # seconds into the recording where the matching text starts
    line: str  # the matching line, the match between the index's marks

    def to_json(self) -> dict[str, Any]:
        return {"session": self.session.to_json(), "t": self.t, "line": self.line}


@dataclass(frozen=True)
class CommandRow:
    """A command a user ran (``auditor.replay.command_reader``), where and when."""

    session_id: str
    t: float  # seconds into the recording: `auditor replay ID --at T` shows it typed
    time: float  # epoch seconds
    line: str
    context: str  # the prompt it was typed at; "" for an exec request
    user: str | None = None
    login: str | None = None
    node: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TerminationRequest:
    """An auditor's request to end a live session, for the proxy that carries it."""

    session_id: str
    by: str
    reason: str


@dataclass(frozen=True)
class LiveChunk:
    """Bytes ``offset`` on of a live recording, ending where a flush of its writer
    did: ``end_t`` and ``end_seq`` are that flush's ``.idx`` entry."""

    offset: int
    data: bytes
    end_t: float
    end_seq: int

    @property
    def end(self) -> int:
        return self.offset + len(self.data)


@dataclass(frozen=True)
class LiveRow(_Recorded):
    """A live session as recovery sees it: who writes it, and when it last did."""

    id: str
    owner: str | None
    start: float
    updated: float | None
    recording_path: str | None


@dataclass(frozen=True)
class TextState(_Recorded):
    """Where text extraction of one session stopped: a record boundary in the
    recording and the stripper's unfinished bytes, so the next pass resumes there."""

    recording_path: str | None
    status: str
    offset: int
    seq: int
    t: float
    carry: bytes
    carry_t: float | None  # when the held-back bytes were printed
    done: bool
