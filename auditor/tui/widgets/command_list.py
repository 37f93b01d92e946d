"""The commands of the session on the replay screen: Enter jumps to one."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from auditor.replay.command_reader import Command
from auditor.tui.readable import clock
from auditor.tui.safe_text import append_data


class CommandList(OptionList):
    """One line a command, ``offset  prompt command``, in the order they ran."""

    BINDINGS = [Binding("escape", "leave", "Back to the terminal", show=False)]

    class Chosen(Message):
        """Replay from where this command was typed."""

        def __init__(self, command: Command) -> None:
            super().__init__()
            self.command = command

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.commands: list[Command] = []
        self.border_title = "commands (c)"
        # Focused only on request (c): the replay screen's keys are playback
        # keys, and a list would take its arrows, home and end.
        self.can_focus = False

    def enter(self) -> None:
        self.can_focus = True
        if self.highlighted is None and self.commands:
            self.highlighted = 0
        self.focus()

    def show(self, commands: list[Command]) -> None:
        self.commands = commands
        self.clear_options()
        if not commands:
            self.add_option(Option(Text("no commands", style="dim"), disabled=True))
            return
        for c in commands:
            line = Text(f"{clock(c.t):>7} ", style="dim")
            if c.context:
                append_data(line, c.context, style="green")
                line.append(" ")
            append_data(line, c.line)
            self.add_option(Option(line))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self.commands):
            self.post_message(self.Chosen(self.commands[event.option_index]))
        self.action_leave()

    def action_leave(self) -> None:
        self.can_focus = False
        self.screen.set_focus(None)
