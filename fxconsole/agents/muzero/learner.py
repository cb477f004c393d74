"""The learner of SPEC §7: the K-step unroll, the five losses and their weights, Adam.

Policy and value are predicted at unroll steps 0 … K, the afterstate's σ and Q and the
dynamics' reward at steps 0 … K − 1; each term is averaged over the steps inside the
episode (the chance term over the steps with a defined label), and the dynamics'
gradient is halved at each unroll step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from fxconsole.agents.muzero.networks import MuZeroNet
from fxconsole.agents.muzero.replay import Batch
from fxconsole.agents.muzero.support import two_hot_torch
from fxconsole.config import MuZeroConfig

LOSS_TERMS = ("policy", "value", "reward", "chance", "afterstate_value")


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` forward; its gradient times ``scale`` backward."""
    return x * scale + x.detach() * (1.0 - scale)


def _soft_ce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp_min(1.0)


@dataclass(frozen=True)
class Losses:
    """One update's loss terms (unweighted) and the weighted total."""

    total: float
    terms: dict[str, float]


class Learner:
    """Adam on the five networks, one batch at a time."""

    def __init__(self, net: MuZeroNet, cfg: MuZeroConfig) -> None:
        self.net = net
        self.cfg = cfg
        self.optimizer = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate,
                                          weight_decay=cfg.weight_decay)
        self.weights = {"policy": cfg.policy_weight, "value": cfg.value_weight,
                        "reward": cfg.reward_weight, "chance": cfg.chance_weight,
                        "afterstate_value": cfg.afterstate_value_weight}
        self.updates = 0

    def losses(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The weighted loss and each term of a batch (the networks in training mode)."""
        t = {name: torch.from_numpy(np.ascontiguousarray(getattr(batch, name)))
             for name in ("temporal", "static", "actions", "chance", "chance_mask",
                          "rewards", "step_mask", "values", "policy")}
        k_steps = batch.actions.shape[1]
        net = self.net
        state = net.representation(t["temporal"], t["static"])
        terms: dict[str, list[torch.Tensor]] = {name: [] for name in LOSS_TERMS}
        masks: dict[str, list[torch.Tensor]] = {name: [] for name in LOSS_TERMS}
        value_target = two_hot_torch(t["values"])
        reward_target = two_hot_torch(t["rewards"])
        for k in range(k_steps + 1):
            step = t["step_mask"][:, k]
            logits, value = net.prediction(state)
            terms["policy"].append(_soft_ce(logits, t["policy"][:, k]))
            terms["value"].append(_soft_ce(value, value_target[:, k]))
            masks["policy"].append(step)
            masks["value"].append(step)
            if k == k_steps:
                break
            after = net.afterstate_dynamics(state, t["actions"][:, k])
            sigma, q = net.afterstate_prediction(after)
            terms["chance"].append(F.cross_entropy(sigma, t["chance"][:, k], reduction="none"))
            masks["chance"].append(t["chance_mask"][:, k])
            terms["afterstate_value"].append(_soft_ce(q, value_target[:, k]))
            masks["afterstate_value"].append(step)
            state, reward = net.dynamics(after, t["chance"][:, k])
            terms["reward"].append(_soft_ce(reward, reward_target[:, k]))
            masks["reward"].append(step)
            state = scale_gradient(state, 0.5)
        out = {name: _masked_mean(torch.stack(terms[name]), torch.stack(masks[name]))
               for name in LOSS_TERMS}
        total = sum((self.weights[name] * out[name] for name in LOSS_TERMS),
                    torch.zeros(()))
        return total, out

    def update(self, batch: Batch) -> Losses:
        """One Adam step (gradient norm clipped) on ``batch``."""
        self.net.train()
        total, terms = self.losses(batch)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        return Losses(float(total.detach()), {k: float(v.detach()) for k, v in terms.items()})
