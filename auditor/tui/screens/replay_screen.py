"""Replay: a recording through the terminal emulator, with a timeline and live follow.

A thread worker owns the ``Playback`` and takes commands from a queue; it
sends at most ``FPS`` frames a second, each a message that replaces the one
before it if the UI has not drawn it yet. Keys therefore never wait on the
emulator, whatever the recording's output rate.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, ScrollableContainer
from textual.message import Message
from textual.screen import Screen
from textual.strip import Strip
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from auditor import oversight
from auditor.errors import AuditorError
from auditor.index import Session
from auditor.recording import RecordingError, RecordingReader
from auditor.replay.command_reader import Command, session_commands
from auditor.replay.moment import reference
from auditor.replay.playback import (
    Find,
    Playback,
    PlaybackCommand,
    SeekBy,
    SeekTo,
    SetSpeed,
    Step,
    StepBack,
    ToggleFollow,
    TogglePlay,
)
from auditor.replay.timed_transcript import timed_transcript
from auditor.replay.timing import next_speed
from auditor.textsafe import visible
from auditor.tui import readable as fmt
from auditor.tui.safe_text import append_data, data_text
from auditor.tui.screens.review_screen import ReviewScreen
from auditor.tui.widgets.command_list import CommandList
from auditor.tui.widgets.session_table import match_text
from auditor.tui.widgets.terminal_view import TerminalView, render_screen
from auditor.tui.widgets.timeline import Timeline, TimelineState
from auditor.tui.widgets.transcript_panel import TranscriptPanel

if TYPE_CHECKING:
    from auditor.tui.app import AuditorApp

FPS = 20
IDLE_WAIT = 0.5  # how often an idle playback thread checks it is still wanted


class ReplayScreen(Screen[None]):
    AUTO_FOCUS = None  # keys go to the screen's playback bindings, not a widget
    BINDINGS = [
        Binding("space", "toggle_play", "Play/Pause"),
        Binding("left", "seek(-5)", "-5s"),
        Binding("right", "seek(5)", "+5s"),
        Binding("shift+left", "seek(-60)", "-1m", show=False),
        Binding("shift+right", "seek(60)", "+1m", show=False),
        Binding("comma", "step_back", "Step back", key_display=","),
        Binding("full_stop", "step", "Step", key_display="."),
        Binding("minus", "speed(-1)", "Slower", key_display="-"),
        Binding("plus,equals_sign", "speed(1)", "Faster", key_display="+"),
        Binding("home", "seek_to(0)", "Start", show=False),
        Binding("end", "seek_to(-1)", "End", show=False),
        Binding("n", "hit(1)", "Next hit"),
        Binding("N", "hit(-1)", "Prev hit", key_display="N"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("f", "toggle_follow", "Follow"),
        Binding("c", "commands", "Commands"),
        Binding("t", "transcript", "Transcript"),
        Binding("y", "copy_moment", "Copy moment"),
        Binding("m", "review", "Reviewed"),
        Binding("escape", "back", "Back"),
    ]

    class Frame(Message):
        """A rendered screen and where playback is; a frame not drawn yet is
        replaced by the next one, so a burst of output can't flood the UI."""

        def __init__(self, strips: list[Strip], cols: int, rows: int, state: TimelineState):
            super().__init__()
            self.strips, self.cols, self.rows, self.state = strips, cols, rows, state

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ReplayScreen.Frame)

    class Loaded(Message):
        def __init__(self, cols: int, rows: int, error: str | None = None) -> None:
            super().__init__()
            self.cols, self.rows, self.error = cols, rows, error

    def __init__(
        self, session: Session, search: str | None = None, at: float | None = None
    ) -> None:
        super().__init__()
        self.session = session
        self.search = search
        self.at = at  # open at this moment (a command's offset)
        self.hits: list[tuple[float, str]] = []
        self.state = TimelineState(live=session.live, following=session.live)
        self.ready = False
        self.frames = 0
        self._waiters: list[tuple[Callable[[ReplayScreen], bool], asyncio.Future[None]]] = []
        self._commands: queue.Queue[PlaybackCommand | None] = queue.Queue()

    @property
    def auditor(self) -> AuditorApp:
        return cast("AuditorApp", self.app)

    @property
    def terminal_view(self) -> TerminalView:
        return self.query_one(TerminalView)

    @property
    def timeline(self) -> Timeline:
        return self.query_one(Timeline)

    @property
    def command_list(self) -> CommandList:
        return self.query_one(CommandList)

    @property
    def hit_line(self) -> Static:
        return self.query_one("#hit-line", Static)

    @property
    def search_input(self) -> Input | None:
        """The search box, only while the user types a search (``/``)."""
        found = self.query("#replay-search")
        return found.first(Input) if found else None

    def compose(self) -> ComposeResult:
        s = self.session
        yield Header()
        # Who, where and the exec request are the audited side's: data, never markup.
        info = append_data(Text(), f" {s.user or '-'} ", style="bold")
        append_data(info, fmt.target(s))
        info.append(f" · {fmt.when(s.start)} · ")
        append_data(info, fmt.what(s))
        info.append(" · ")
        info.append(s.status, style="bold green" if s.live else "")
        if s.exit_status is not None or s.exit_signal:
            info.append(f" · exit {fmt.exit_text(s)}")
        info.append(f" · {s.id[:12]}", style="dim")
        yield Static(info, id="replay-info")
        with Horizontal(id="replay-body"):
            # Not focusable: its scrolling keys (home, end, arrows) are playback keys here.
            with ScrollableContainer(id="terminal-box", can_focus=False), Center():
                yield TerminalView()
            yield CommandList(id="commands")
            yield TranscriptPanel(id="transcript")
        yield Timeline()
        yield Static("", id="hit-line")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "replay"
        self.timeline.state = self.state
        self.note_view("follow" if self.session.live else "replay")
        self.run_playback()
        self.load_commands()
        if self.search:
            self.load_hits(self.search, jump=True)

    def on_unmount(self) -> None:
        self.command(None)

    # The playback thread
    def command(self, command: PlaybackCommand | None) -> None:
        """Hand a command to the playback thread (None stops it)."""
        self._commands.put(command)

    @work(thread=True, group="playback", exit_on_error=False)
    def run_playback(self) -> None:
        worker = get_current_worker()
        path = self.session.recording
        mirrors = None
        try:
            mirrors = self.auditor.reader.mirrors()  # another machine's live session, mirrored
            if not path:
                raise AuditorError("this session has no recording (recording was off)")
            reader = RecordingReader(path) if mirrors is None else mirrors.reader(self.session)
            pb = Playback(reader, live=self.session.live)
        except AuditorError as exc:
            if mirrors is not None:
                mirrors.close()
            self.post_message(self.Loaded(0, 0, str(exc)))
            return
        try:
            self._play(worker, pb)
        finally:
            if mirrors is not None:
                mirrors.close()

    def _play(self, worker: Any, pb: Playback) -> None:
        self.post_message(self.Loaded(pb.cols, pb.rows))
        if self.session.live:
            pb.seek(pb.duration)
            pb.handle(ToggleFollow())
        strips: list[Any] | None = None
        generation = -1
        last_frame = 0.0
        dirty = True
        while not worker.is_cancelled:
            active = pb.playing or pb.following
            command: PlaybackCommand | Literal[False] | None
            try:
                command = self._commands.get(timeout=1 / FPS if active else IDLE_WAIT)
            except queue.Empty:
                command = False  # just time passing
            if command is None:
                return
            before = (pb.position, pb.playing, pb.following, pb.generation)
            if command:
                pb.handle(command)
                dirty = True
            if pb.tick() or before != (pb.position, pb.playing, pb.following, pb.generation):
                dirty = True
            now = time.monotonic()
            if dirty and (command or now - last_frame >= 1 / FPS):
                full = generation != pb.generation
                generation = pb.generation
                strips = render_screen(pb.terminal, strips, full=full)
                state = replace(
                    self.state,
                    position=pb.position,
                    cited=pb.moment_t,
                    duration=pb.duration,
                    playing=pb.playing,
                    speed=pb.speed,
                    following=pb.following,
                )
                self.post_message(self.Frame(strips, pb.cols, pb.rows, state))
                last_frame, dirty = now, False

    @work(thread=True, group="commands", exit_on_error=False)
    def load_commands(self) -> None:
        """The session's commands as its screen showed them (so far, for a live one)."""
        path = self.session.recording
        found: list[Command] = []
        if path:
            try:
                found = list(session_commands(RecordingReader(path).records()))
            except (RecordingError, OSError):
                found = []  # the playback thread reports an unreadable recording
        self.post_message(self.CommandsLoaded(found))

    class CommandsLoaded(Message):
        def __init__(self, commands: list[Command]) -> None:
            super().__init__()
            self.commands = commands

    @on(CommandsLoaded)
    def commands_loaded(self, event: CommandsLoaded) -> None:
        self.command_list.show(event.commands)

    @on(CommandList.Chosen)
    def command_chosen(self, event: CommandList.Chosen) -> None:
        self.command(SeekTo(event.command.t))

    def action_commands(self) -> None:
        self.command_list.enter()

    # Messages from the thread
    @on(Loaded)
    def loaded(self, event: Loaded) -> None:
        if event.error:
            self.hit_line.update(data_text(event.error, style="bold red"))
            return
        self.ready = True
        if self.at is not None:
            self.command(SeekTo(self.at))

    @on(Frame)
    def frame(self, event: Frame) -> None:
        self.terminal_view.show(event.strips, event.cols, event.rows)
        moved = event.state.position != self.state.position
        self.state = replace(event.state, hits=self.state.hits, hit=self.state.hit)
        # The moment's reference on the timeline (y copies it): part of the state the
        # timeline draws anyway, so no other widget redraws for it every frame.
        self.state = replace(self.state, moment=self.moment)
        if moved and self.transcript.has_class("-shown"):
            self.transcript.follow(self.state.position)
        self.timeline.state = self.state
        self.frames += 1
        waiting, self._waiters = self._waiters, []
        for check, fut in waiting:
            if fut.done():
                continue
            if check(self):
                fut.set_result(None)
            else:
                self._waiters.append((check, fut))

    async def until(self, check: Callable[[ReplayScreen], bool]) -> None:
        """Wait for a frame after which ``check(screen)`` holds (tests, scripted use)."""
        if check(self):
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((check, fut))
        await fut

    @on(Timeline.Seek)
    def timeline_seek(self, event: Timeline.Seek) -> None:
        self.command(SeekTo(event.t))

    # Search hits
    @work(group="hits", exclusive=True, exit_on_error=False)
    async def load_hits(self, q: str, jump: bool = False) -> None:
        try:
            hits = await self.auditor.reader(
                lambda index: index.search_hits(self.session.id, q), lane="search"
            )
        except AuditorError as exc:
            self.hit_line.update(data_text(str(exc), style="red"))
            return
        self.search = q
        self.hits = hits
        self.state = replace(self.state, hits=tuple(t for t, _ in hits), hit=None)
        self.timeline.state = self.state
        if not hits:
            self.hit_line.update(data_text(f"no match for {q!r} in this session", style="dim"))
        elif jump:
            self._go_to_hit(0)

    def _go_to_hit(self, i: int) -> None:
        t, line = self.hits[i]
        word = line[line.find("«") + 1 : line.find("»")] if "«" in line else ""
        # Hits in one stretch of text share its time: look for the whole line first.
        self.command(Find(t, line.replace("«", "").replace("»", ""), word))
        label = Text(f" hit {i + 1}/{len(self.hits)}: ", style="bold")
        self.hit_line.update(label + match_text(line))
        self.state = replace(self.state, hit=i)
        self.timeline.state = self.state

    # Actions
    def action_toggle_play(self) -> None:
        self.command(TogglePlay())

    def action_seek(self, delta: float) -> None:
        self.command(SeekBy(delta))

    def action_seek_to(self, t: float) -> None:
        self.command(SeekTo(self.state.duration if t < 0 else t))

    def action_step(self) -> None:
        self.command(Step())

    def action_step_back(self) -> None:
        self.command(StepBack())

    def action_speed(self, direction: int) -> None:
        speed = next_speed(self.state.speed, direction)
        self.state = replace(self.state, speed=speed)
        self.timeline.state = self.state
        self.command(SetSpeed(speed))

    def action_toggle_follow(self) -> None:
        if self.session.live or self.state.live:
            self.command(ToggleFollow())

    def action_hit(self, direction: int) -> None:
        if not self.hits:
            self.app.bell()
            return
        current = self.state.hit
        if current is None:
            i = 0 if direction > 0 else len(self.hits) - 1
        else:
            i = (current + direction) % len(self.hits)
        self._go_to_hit(i)

    def action_search(self) -> None:
        if self.search_input is None:
            box = Input(
                self.search or "", placeholder="search this session's output", id="replay-search"
            )
            self.mount(box, before=self.query_one(Footer))
            box.focus()

    @on(Input.Submitted, "#replay-search")
    def search_submitted(self, event: Input.Submitted) -> None:
        event.input.remove()
        if event.value.strip():
            self.load_hits(event.value.strip(), jump=True)

    # Moments, reviews, who watched, the transcript (issue 24)
    @property
    def moment(self) -> str:
        """The current moment's reference: ``auditor ID@T`` opens it again."""
        return reference(self.session.id, self.state.cited)

    @property
    def transcript(self) -> TranscriptPanel:
        return self.query_one(TranscriptPanel)

    @work(group="views", exit_on_error=False)
    async def note_view(self, what: str) -> None:
        """Who watched whom: a views row and a session_viewed line in the audit log."""
        sid, data_dir = self.session.id, self.auditor.data_dir
        try:
            await self.auditor.reader(lambda index: oversight.viewed(index, data_dir, sid, what))
        except (AuditorError, OSError) as exc:
            note = visible(f"could not record this view: {exc}")
            self.notify(note, severity="error", markup=False)

    def action_copy_moment(self) -> None:
        """OSC 52 to the terminal's clipboard, and shown: not every terminal takes OSC 52."""
        ref = self.moment
        self.app.copy_to_clipboard(ref)
        self.notify(f"copied {ref}", title="moment", markup=False)

    def action_review(self) -> None:
        t = self.state.cited

        def answered(note: str | None) -> None:
            if note is not None:
                self.review(note, t)

        self.app.push_screen(ReviewScreen(self.session, t), answered)

    @work(group="review", exit_on_error=False)
    async def review(self, note: str, t: float) -> None:
        sid, data_dir = self.session.id, self.auditor.data_dir
        try:
            await self.auditor.reader(
                lambda index: oversight.reviewed(index, data_dir, sid, note or None, t)
            )
        except (AuditorError, OSError) as exc:
            self.notify(visible(str(exc)), severity="error", markup=False)
            return
        self.notify(f"reviewed {reference(sid, t)}", title="review", markup=False)
        self.auditor.data_version += 1  # the sessions table shows it

    def action_transcript(self) -> None:
        panel = self.transcript
        if panel.has_class("-shown"):
            panel.remove_class("-shown")
            panel.action_leave()
            return
        panel.add_class("-shown")
        if not panel.lines:
            self.load_transcript()
        panel.follow(self.state.position)
        panel.enter()

    @work(thread=True, group="transcript", exclusive=True, exit_on_error=False)
    def load_transcript(self) -> None:
        path = self.session.recording
        lines: list[tuple[float, str]] = []
        if path:
            try:
                lines = timed_transcript(RecordingReader(path).records())
            except (RecordingError, OSError):
                lines = []  # the playback thread reports an unreadable recording
        self.post_message(self.TranscriptLoaded(lines))

    class TranscriptLoaded(Message):
        def __init__(self, lines: list[tuple[float, str]]) -> None:
            super().__init__()
            self.lines = lines

    @on(TranscriptLoaded)
    def transcript_loaded(self, event: TranscriptLoaded) -> None:
        self.transcript.show(event.lines)
        self.transcript.follow(self.state.position)

    @on(TranscriptPanel.Chosen)
    def transcript_chosen(self, event: TranscriptPanel.Chosen) -> None:
        self.command(SeekTo(event.t))

    def action_back(self) -> None:
        if self.search_input is not None:
            self.search_input.remove()
            return
        self.dismiss()
