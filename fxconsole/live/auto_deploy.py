"""Auto-deploy (``live.auto_deploy``): the live worker trades the run's newest validated
checkpoint by itself.

``auto`` (the default) does it on the paper broker only; ``validated`` on any broker, an
OANDA account included (only validated checkpoints, by construction: it follows the
``validated`` tag, which only a passed test examination moves); ``off`` never. A new
``validated`` checkpoint is deployed once: a checkpoint the operator deploys by hand
afterwards stays until the next one is validated. Pure: the worker does the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from fxconsole.config import AUTO_DEPLOY_MODES as MODES


def enabled(mode: str, broker: str) -> bool:
    """Whether ``mode`` auto-deploys on ``broker``.

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"live.auto_deploy = {mode!r} is not allowed; allowed: {list(MODES)}")
    return mode == "validated" or (mode == "auto" and broker == "paper")


@dataclass
class AutoDeployer:
    """Decides when the newest validated checkpoint should be deployed."""

    seen: str | None = None  # sha256 of the last validated checkpoint acted on

    def due(self, validated_sha: str | None, deployed_sha: str | None) -> bool:
        """True once per newly validated checkpoint that is not already deployed."""
        if validated_sha is None or validated_sha == self.seen:
            return False
        self.seen = validated_sha
        return validated_sha != deployed_sha
