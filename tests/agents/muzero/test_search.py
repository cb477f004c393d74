"""The batched Stochastic MuZero search against exact solutions of small stochastic games
(expectimax, computed by plain recursion), a tree per environment in arrays."""

from __future__ import annotations

import numpy as np
import pytest

from fxconsole.agents.muzero.search import SearchConfig, search, select_outcome

N_DEPTH1 = 12  # one depth-1 state per (root action, outcome)
H = 1 + N_DEPTH1 + 1 + 4 * (1 + N_DEPTH1)  # root, depth-1 states, terminal, afterstates


class TabularGame:
    """Root → (action, outcome) → a depth-1 state → (action, outcome) → terminal (value 0).

    Hidden states are one-hot codes: state ids 0 (root), 1…12 (depth 1), 13 (terminal);
    afterstate (s, a) for s ≤ 12 at 14 + 4s + a. The model knows the true outcome
    probabilities and rewards; its value heads say 0 (uninformative) except at the
    terminal, where 0 is exact: the search must find the expectimax values by itself.
    """

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.p = rng.dirichlet([1.0] * 3, size=(1 + N_DEPTH1, 4))
        self.r = rng.uniform(-3, 3, size=(1 + N_DEPTH1, 4, 3))
        self.calls = {"afterstate": 0, "dynamics": 0}

    def exact_q(self, state: int) -> np.ndarray:
        """Expectimax Q of a non-terminal state's 4 actions (discount 1)."""
        q = np.zeros(4)
        for a in range(4):
            for c in range(3):
                nxt = 1 + 3 * a + c if state == 0 else None
                future = 0.0 if nxt is None else float(self.exact_q(nxt).max())
                q[a] += self.p[state, a, c] * (self.r[state, a, c] + future)
        return q

    @staticmethod
    def code(index: int) -> np.ndarray:
        v = np.zeros(H, dtype=np.float32)
        v[index] = 1.0
        return v

    def afterstate(self, states: np.ndarray, actions: np.ndarray):  # type: ignore[no-untyped-def]
        self.calls["afterstate"] += 1
        ids = states.argmax(axis=1)
        after = np.stack([self.code(14 + 4 * s + a) if s <= N_DEPTH1 else self.code(13)
                          for s, a in zip(ids, actions, strict=True)])
        logits = np.stack([np.log(self.p[s, a]) if s <= N_DEPTH1 else np.zeros(3)
                           for s, a in zip(ids, actions, strict=True)]).astype(np.float32)
        return after, logits, np.zeros(len(ids), dtype=np.float32)

    def dynamics(self, afters: np.ndarray, outcomes: np.ndarray):  # type: ignore[no-untyped-def]
        self.calls["dynamics"] += 1
        states, rewards = [], []
        for code, c in zip(afters.argmax(axis=1), outcomes, strict=True):
            if code == 13:  # the terminal's afterstate: stays, earns nothing
                states.append(self.code(13))
                rewards.append(0.0)
                continue
            s, a = divmod(int(code) - 14, 4)
            states.append(self.code(1 + 3 * a + c if s == 0 else 13))
            rewards.append(float(self.r[s, a, c]))
        n = len(states)
        return (np.stack(states), np.asarray(rewards, np.float32),
                np.zeros((n, 4), np.float32), np.zeros(n, np.float32))


def roots(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.stack([TabularGame.code(0)] * n), np.zeros((n, 4), np.float32),
            np.zeros(n, np.float32))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_many_simulations_find_the_expectimax_action_and_values(seed: int) -> None:
    game = TabularGame(seed)
    exact = game.exact_q(0)
    states, logits, values = roots(1)
    out = search(game, states, logits, values, np.ones((1, 4), bool),
                 SearchConfig(simulations=3000, discount=1.0))
    assert out.action[0] == int(exact.argmax())
    best = int(exact.argmax())
    spread = float(exact.max() - exact.min())
    assert out.q[0, best] == pytest.approx(exact[best], abs=0.1 * spread)
    assert out.visits[0].sum() == 3000


def test_a_batch_searches_each_tree_as_if_alone_with_two_calls_per_simulation() -> None:
    """Three environments with different legal actions: the same visits as searched one by
    one, and at most one afterstate and one dynamics call per simulation."""
    legal = np.array([[1, 1, 1, 0], [1, 0, 0, 1], [1, 1, 1, 0]], dtype=bool)
    cfg = SearchConfig(simulations=60, discount=0.997)
    batched_game = TabularGame(5)
    states, logits, values = roots(3)
    batched = search(batched_game, states, logits, values, legal, cfg)
    assert batched_game.calls["afterstate"] <= 60 and batched_game.calls["dynamics"] <= 60
    for i in range(3):
        alone = search(TabularGame(5), states[i:i + 1], logits[i:i + 1], values[i:i + 1],
                       legal[i:i + 1], cfg)
        np.testing.assert_array_equal(alone.visits[0], batched.visits[i])
        np.testing.assert_allclose(alone.q[0], batched.q[i], equal_nan=True)
    assert (batched.visits[~legal] == 0).all()  # illegal root actions are never searched
    assert legal[np.arange(3), batched.action].all()


@pytest.mark.parametrize("sigma", [[0.2, 0.5, 0.3], [0.05, 0.05, 0.9], [1 / 3] * 3])
def test_chance_selection_visits_outcomes_in_proportion_to_sigma(sigma: list[float]) -> None:
    """Deterministic ``argmax σ / (N + 1)`` apportions visits like the D'Hondt method:
    after n visits each outcome has more than n·σ − 1 and fewer than n·σ + 2 (3 outcomes),
    so the shares converge to σ."""
    probs = np.asarray(sigma)
    counts = np.zeros(3, dtype=np.int64)
    for n in range(1, 601):
        counts[select_outcome(probs, counts)] += 1
        excess = counts - n * probs
        assert np.all(excess > -1 - 1e-9) and np.all(excess < 2), (n, counts)
    np.testing.assert_allclose(counts / 600, probs, atol=2 / 600)


def test_a_single_legal_action_gets_every_visit() -> None:
    game = TabularGame(7)
    states, logits, values = roots(1)
    only = np.array([[False, True, False, False]])
    out = search(game, states, logits, values, only, SearchConfig(simulations=50))
    assert out.visits[0].tolist() == [0, 50, 0, 0] and out.action[0] == 1


def test_noise_only_touches_legal_actions_and_bad_input_is_refused() -> None:
    game = TabularGame(3)
    states, logits, values = roots(2)
    legal = np.array([[1, 0, 0, 1], [1, 1, 1, 0]], dtype=bool)
    out = search(game, states, logits, values, legal, SearchConfig(simulations=20),
                 rng=np.random.default_rng(0))
    assert (out.visits[~legal] == 0).all()
    with pytest.raises(ValueError, match="a legal action per root"):
        search(game, states, logits, values, np.zeros((2, 4), bool), SearchConfig())
