"""The command palette's provider: every console action by name (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from fxconsole.ui.screens.main import PANELS, MainScreen

ACTIONS = (
    ("Restart the selected worker", "restart_worker", "r"),
    ("Stop the selected worker", "stop_worker", "s"),
    ("Start the selected worker", "start_worker", "S"),
    ("Checkpoint now (trainer)", "checkpoint_now", "c"),
    ("Pause or resume training", "pause_resume", "p"),
    ("Roll back training and/or live to a checkpoint", "rollback", "b"),
    ("Deploy a checkpoint to live", "deploy", "d"),
    ("Kill switch of live (engage or release)", "kill_switch", "K"),
    ("Flatten live: close its open position", "flatten", "X"),
    ("Pause new entries of live", "pause_entries", ""),
    ("Resume new entries of live (releases the kill switch)", "resume_entries", ""),
    ("Filter the log", "filter_logs", "/"),
    ("Help: list every key", "help", "?"),
    ("Quit", "quit", "q"),
    *[(f"Show the {title} panel", f"panel('{pid}')", str(i))
      for i, (pid, title) in enumerate(PANELS, 1)],
)


class ConsoleCommands(Provider):
    """Offers the main screen's actions that apply now."""

    def _actions(self) -> list[tuple[str, str, str]]:
        screen = self.screen
        if not isinstance(screen, MainScreen):
            return []
        return [(name, action, key) for name, action, key in ACTIONS
                if screen.check_action(action.split("(")[0], ())]

    async def discover(self) -> Hits:
        """All the actions, when nothing is typed."""
        for name, action, key in self._actions():
            yield DiscoveryHit(name, partial(self.screen.run_action, action),
                               help=f"key {key}" if key else None)

    async def search(self, query: str) -> Hits:
        """The actions whose name matches ``query``."""
        matcher = self.matcher(query)
        for name, action, key in self._actions():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.screen.run_action, action),
                          help=f"key {key}" if key else None)
