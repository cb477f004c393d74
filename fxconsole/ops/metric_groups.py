"""Metrics as ``status`` shows them: grouped by namespace, every value formatted one way.

Pure: a ``key → value`` mapping in, ``(group, [(name, text)])`` out. Groups follow the
order an operator reads a run in (training, its rollouts, collectors, self-play, replay,
validation, live); the rest follow alphabetically.
"""

from __future__ import annotations

from fxconsole import numfmt

GROUP_ORDER = ("train", "rollout", "collect", "selfplay", "replay", "val", "test", "live")
PERCENT_SUFFIXES = ("win_rate", "gate_rate", "trade_ratio", "clip_fraction", "success")
COUNT_SUFFIXES = ("timesteps", "trades", "episodes", "updates", "fills", "rejects",
                  "decisions", "unresolved", "invalid_actions", "size", "phase")
FLAG_SUFFIXES = ("kill_switch", "connected", "halted", "entries_paused", "risk_tripped",
                 "validated", "deployed")


def metric_text(key: str, value: float | None) -> str:
    """One metric's value for people, by what its name says it is.

    Args:
        key: ``group/name``, e.g. ``rollout/win_rate``.
        value: The value (``None`` or NaN: undefined).

    Returns:
        ``"52.3%"`` for rates, ``"18,342"`` for counts, ``"yes"``/``"no"`` for flags,
        ``"+1.25"`` for pips and SQN, :func:`fxconsole.numfmt.num` otherwise; "—" when
        undefined.
    """
    name = key.rsplit("/", 1)[-1]
    if not numfmt.defined(value):
        return numfmt.UNDEFINED
    if name.endswith(PERCENT_SUFFIXES):
        return numfmt.pct(value)
    if name.endswith(FLAG_SUFFIXES):
        return "yes" if value else "no"
    if name.endswith(COUNT_SUFFIXES) or name.startswith(("episodes", "trades")):
        return numfmt.count(value)
    if "pips" in name or name in ("expectancy", "sqn", "avg_win", "avg_loss", "dsr",
                                  "position"):
        return numfmt.signed(value)
    return numfmt.num(value)


def group_of(key: str) -> str:
    """The namespace of a metric key (``train/fps`` → ``train``; no slash: ``other``)."""
    return key.split("/", 1)[0] if "/" in key else "other"


def grouped_metrics(metrics: dict[str, float | None]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Metrics grouped by namespace, in reading order, each value formatted.

    Args:
        metrics: ``key → value``.

    Returns:
        ``[(group, [(name, text), …]), …]``: groups in :data:`GROUP_ORDER` then
        alphabetically, names alphabetically within a group.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(metrics):
        name = key.split("/", 1)[1] if "/" in key else key
        groups.setdefault(group_of(key), []).append((name, metric_text(key, metrics[key])))
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    order = sorted(groups, key=lambda g: (rank.get(g, len(rank)), g))
    return [(g, groups[g]) for g in order]
