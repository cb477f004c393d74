"""fxconsole: an operations console for a reinforcement-learning forex trading system."""

import fxconsole.trading  # noqa: F401  registers gymnasium id "fxconsole/Trading-v0"
