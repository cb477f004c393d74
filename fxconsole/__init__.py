"""fxconsole: an operations console for a reinforcement-learning forex trading system.

Importing the package loads nothing else: the live worker, ``fxconsole status`` and the
console import only the modules they use. ``import fxconsole.trading.env`` registers the
gymnasium id ``fxconsole/Trading-v0``.
"""
