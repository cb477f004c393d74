"""The order journal and live_state over a real console database."""

from __future__ import annotations

from pathlib import Path

import pytest

from live_support import console  # isort: skip

from fxconsole.brokers.base import OrderResult, OrderState
from fxconsole.live.journal import DECISIONS, KILL_SWITCH, Journal, make_client_id, push_decision

BAR = 1_700_000_040 * 10**9


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(console(tmp_path / "console.sqlite"), "main", "live", "paper",
                   clock=lambda: 1000.0)


def test_an_order_life(journal: Journal) -> None:
    order = journal.record_intent("GBP_JPY", 1, "open", BAR, 150.25)
    assert order.state is OrderState.INTENT and order.client_id == "fx-main-1700000040-1"
    assert order.bar_ts == BAR and order.sent is None
    assert [o.client_id for o in journal.unresolved()] == [order.client_id]
    journal.mark_sent(order.client_id)
    assert journal.by_client_id(order.client_id).state is OrderState.SENT
    done = journal.record_outcome(OrderResult(order.client_id, OrderState.FILLED, 1, 150.26,
                                              4.0, -0.04, "7", "7"))
    assert done.state is OrderState.FILLED and done.fill_price == 150.26
    assert journal.unresolved() == []
    assert journal.fills() == 1 and journal.rejects() == 0
    assert journal.believed_position("GBP_JPY") == 1
    assert journal.last_decided_bar() == BAR
    # a second order on the same bar gets the next sequence number
    second = journal.record_intent("GBP_JPY", -1, "close", BAR, 150.25)
    assert second.client_id == "fx-main-1700000040-2"
    journal.record_outcome(OrderResult(second.client_id, OrderState.REJECTED, reason="HALTED"))
    assert journal.rejects() == 1 and journal.believed_position("GBP_JPY") == 1
    assert [o.client_id for o in journal.recent(5)] == [second.client_id, order.client_id]
    with pytest.raises(KeyError):
        journal.record_outcome(OrderResult("fx-nope", OrderState.FILLED))


def test_the_intent_is_committed_before_sending(journal: Journal, tmp_path: Path) -> None:
    order = journal.record_intent("GBP_JPY", 1, "open", BAR, 150.0)
    other = console(tmp_path / "console.sqlite")  # another process's view
    state = other.execute("SELECT state FROM orders WHERE client_id = ?",
                          (order.client_id,)).fetchone()
    assert state == ("INTENT",)


def test_baseline_replaces_the_history(journal: Journal) -> None:
    order = journal.record_intent("GBP_JPY", -1, "open", BAR, 150.0)
    journal.record_outcome(OrderResult(order.client_id, OrderState.FILLED, -1, 150.0))
    assert journal.believed_position("GBP_JPY") == -1
    journal.set_baseline(0)
    assert journal.believed_position("GBP_JPY") == 0
    assert journal.filled_since_baseline("GBP_JPY") == []
    # another broker's journal ignores this baseline and these orders
    oanda = Journal(journal.conn, "main", "live", "oanda")
    assert oanda.believed_position("GBP_JPY") == 0 and oanda.fills() == 0


def test_live_state(journal: Journal) -> None:
    assert journal.get_state(KILL_SWITCH, False) is False
    journal.set_state(KILL_SWITCH, True)
    journal.set_states({DECISIONS: [{"action": "BUY", "price": float("nan")}]})
    assert journal.get_state(KILL_SWITCH) is True
    assert journal.all_state()[DECISIONS] == [{"action": "BUY", "price": None}]


def test_decisions_are_bounded() -> None:
    decisions: list[dict[str, int]] = []
    for i in range(30):
        decisions = push_decision(decisions, {"i": i}, keep=20)
    assert len(decisions) == 20 and decisions[0] == {"i": 29}


def test_client_ids_fit_oanda() -> None:
    cid = make_client_id("r" * 200, BAR, 12)
    assert len(cid) <= 128 and cid.endswith("-1700000040-12")


def test_the_journal_connection_syncs_every_commit(tmp_path: Path) -> None:
    """synchronous=FULL (2) on the journal's connection: a committed INTENT/SENT survives a
    power cut; other console connections keep NORMAL (1)."""
    conn = console(tmp_path / "console.sqlite")
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    journal = Journal(conn, "main", "live", "paper")
    assert journal.conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    journal.record_intent("GBP_JPY", 1, "open", BAR, 150.0)
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
    assert console(tmp_path / "console.sqlite").execute("PRAGMA synchronous").fetchone()[0] == 1
