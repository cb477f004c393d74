"""Choose one of the run's checkpoints (for roll back and deploy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from fxconsole.ui import format as fmt
from fxconsole.ui.data import CheckpointView
from fxconsole.ui.widgets.checkpoints_table import short_tags


def option_text(c: CheckpointView) -> Text:
    """``    1,000,000  best, deployed           val SQN +1.86 passed``."""
    verdict = "" if c.validated is None else " passed" if c.validated else " failed"
    return Text(f"{c.timesteps:>11,}  {short_tags(c):<24.24}  val SQN "
                f"{fmt.num(c.val_sqn, '+.2f'):>5}{verdict}")


class CheckpointPicker(ModalScreen[CheckpointView | None]):
    """A list of checkpoints, newest first; Enter picks, Escape cancels."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, checkpoints: Sequence[CheckpointView],
                 highlight: str | None = None) -> None:
        """``highlight`` is the sha256 to start on (default: the newest)."""
        super().__init__()
        self.title_text = title
        self.checkpoints = list(checkpoints)
        self.highlight = highlight

    def compose(self) -> ComposeResult:
        """Title and the list."""
        with Vertical(classes="dialog picker"):
            yield Label(self.title_text, classes="question")
            yield OptionList(*[Option(option_text(c), id=c.sha256) for c in self.checkpoints],
                             id="checkpoint-options")
            yield Label("enter: choose · esc: cancel", classes="hint")

    def on_mount(self) -> None:
        """Start on the highlighted checkpoint."""
        options = self.query_one(OptionList)
        shas = [c.sha256 for c in self.checkpoints]
        options.highlighted = shas.index(self.highlight) if self.highlight in shas else 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Pick the selected checkpoint."""
        self.dismiss(next(c for c in self.checkpoints if c.sha256 == event.option.id))

    def action_cancel(self) -> None:
        """Pick nothing."""
        self.dismiss(None)
