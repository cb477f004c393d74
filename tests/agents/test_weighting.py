"""SPEC §5: the loser-weight schedule and the reward it produces."""

from __future__ import annotations

import dataclasses

import pytest

from fxconsole.agents.weighting import LoserWeightSchedule, weighted_reward
from fxconsole.config import EnvConfig

ENV = EnvConfig(reward="amddp1")  # the seed's reward: SPEC §5 is written for it


def test_phase1_until_enough_winners_then_linear_ramp() -> None:
    s = LoserWeightSchedule(phase1_winners=3, ramp_trades=10, ramp_start=0.2)
    for pips in (-5.0, 2.0, -1.0, 3.0):
        assert s.phase == 1 and s.loser_weight == 0.0
        s.observe(pips)
    s.observe(1.0)  # third winner: phase 2 starts after it
    assert s.phase == 2 and s.loser_weight == pytest.approx(0.2)
    for k in range(1, 11):
        s.observe(-1.0)
        assert s.loser_weight == pytest.approx(0.2 + 0.8 * min(k / 10, 1.0))
    s.observe(-1.0)
    assert s.loser_weight == 1.0


def test_zero_pips_is_a_loser_and_disabled_means_weight_one() -> None:
    s = LoserWeightSchedule(phase1_winners=1)
    s.observe(0.0)
    assert s.winners == 0 and s.phase == 1
    assert LoserWeightSchedule(enabled=False).loser_weight == 1.0


def test_state_round_trip() -> None:
    s = LoserWeightSchedule(phase1_winners=2)
    for pips in (1.0, 1.0, -1.0, -2.0):
        s.observe(pips)
    t = LoserWeightSchedule(phase1_winners=2)
    t.restore(s.state())
    assert (t.phase, t.loser_weight) == (s.phase, s.loser_weight)


@pytest.mark.parametrize("weight", [0.0, 0.2, 0.55, 1.0])
def test_a_losing_trade_total_is_scaled_by_the_weight(weight: float) -> None:
    trade = {"pips": -7.0, "max_dd": 12.0}
    close = -7.0 - 0.01 * 12.0
    entry = ENV.open_reward
    # The trade's total over its steps: entry reward, then the (weighted) close reward.
    total = entry + weighted_reward(close, trade, weight, ENV)
    assert total == pytest.approx(weight * (entry + close))


def test_entry_and_forced_close_on_the_same_step() -> None:
    trade = {"pips": -4.0, "max_dd": 0.0}
    step_reward = 1.0 + (-4.0)  # BUY at the last step, then forced close: −3
    assert weighted_reward(step_reward, trade, 0.0, ENV) == pytest.approx(0.0)


def test_winners_are_untouched() -> None:
    assert weighted_reward(5.5, {"pips": 6.0, "max_dd": 50.0}, 0.0, ENV) == 5.5


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_with_mtm_a_losing_trade_total_is_scaled_by_the_weight(weight: float) -> None:
    """mtm spreads a trade's pips over its steps; the close step takes the rest, so the
    trade's total is again ``w · pips`` (an extension of SPEC §5 to the mtm variant)."""
    mtm = dataclasses.replace(ENV, reward="mtm")
    steps = [-4.5, 1.25, -3.0, -0.75]  # marks of a trade that closes at −7 pips
    trade = {"pips": sum(steps), "max_dd": 5.0}
    total = sum(steps[:-1]) + weighted_reward(steps[-1], trade, weight, mtm)
    assert total == pytest.approx(weight * trade["pips"])
    assert weighted_reward(2.0, {"pips": 6.0, "max_dd": 9.0}, 0.0, mtm) == 2.0
