"""Modal questions: confirm a destructive command, and what to do with workers on quit."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

STOP, LEAVE = "stop", "leave"


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question naming the target; "no" is focused, Escape means no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        """``question`` is markup (targets in bold); ``yes`` labels the confirm button."""
        super().__init__()
        self.question = question
        self.yes = yes

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        """Focus the safe answer."""
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer with the button pressed."""
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        """Answer from a key."""
        self.dismiss(yes)


TRAINING, LIVE, BOTH = "training", "live", "both"


class RollbackScreen(ModalScreen[str | None]):
    """Roll back to a checkpoint: resume training from it, deploy it to live, or both
    (the question names the checkpoint and both targets); Cancel is focused."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "choose('training')", "Training"),
        Binding("l", "choose('live')", "Live"),
        Binding("a", "choose('both')", "Both"),
        Binding("n,escape", "choose('')", "Cancel"),
    ]

    def __init__(self, question: str) -> None:
        """``question`` is markup naming the checkpoint and the targets."""
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and four buttons."""
        with Vertical(classes="dialog"):
            yield Static(self.question, classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Training (t)", id=TRAINING, variant="error")
                yield Button("Live (l)", id=LIVE, variant="error")
                yield Button("Both (a)", id=BOTH, variant="error")
                yield Button("Cancel (n)", id="cancel", variant="primary")

    def on_mount(self) -> None:
        """Focus the safe answer."""
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Choose with the button pressed."""
        self.action_choose(str(event.button.id) if event.button.id != "cancel" else "")

    def action_choose(self, choice: str) -> None:
        """``training``, ``live``, ``both``, or empty to cancel."""
        self.dismiss(choice or None)


class QuitScreen(ModalScreen[str | None]):
    """On quit: stop the workers, leave them running, or stay (None)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "choose('stop')", "Stop workers"),
        Binding("l", "choose('leave')", "Leave running"),
        Binding("n,escape", "choose('')", "Cancel"),
    ]

    def compose(self) -> ComposeResult:
        """The question and three buttons."""
        with Vertical(classes="dialog"):
            yield Static("[b]Quit fxconsole.[/b]\n\nStop the workers, or leave them running "
                         "(reattach later with [b]fxconsole attach[/b])?", classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Stop workers (s)", id=STOP, variant="error")
                yield Button("Leave running (l)", id=LEAVE, variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        """Focus the choice that changes nothing."""
        self.query_one(f"#{LEAVE}", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Choose with the button pressed."""
        self.action_choose(event.button.id if event.button.id in (STOP, LEAVE) else "")

    def action_choose(self, choice: str) -> None:
        """``stop``, ``leave``, or empty to cancel."""
        self.dismiss(choice or None)
