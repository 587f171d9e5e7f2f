"""I_NCE of a view pair: the InfoNCE lower bound on the information two views share (van den Oord et al.
2018; the estimate InfoMin plots, Tian et al. 2020, Sec. 3). A fresh critic pair
(``nn.critic.TwoViewCritic`` with linear heads, view learning's critic too) is trained to pick each
view-1 sample's own view 2 among K candidates; on held-out pairs, never seen while training it,

    I_NCE = log K - L_NCE  <=  I(v1; v2),

so an estimate within ``saturation_margin`` of log K is *saturated*: the views may share far more.
Repeated over seeds (critic, split, batches and views follow the seed). A view pair is any view source."""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

import torch

from ..nn.critic import TwoViewCritic, fit_critic


@dataclass
class NCEEstimate:
    k: int  # candidates per query: the positive and k - 1 negatives
    per_seed: list[float]  # I_NCE in nats, one per seed
    steps: int
    saturation_margin: float

    @property
    def log_k(self) -> float:
        return math.log(self.k)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.per_seed)

    @property
    def std(self) -> float:
        return statistics.stdev(self.per_seed) if len(self.per_seed) > 1 else 0.0

    @property
    def saturated(self) -> bool:
        return self.mean >= self.log_k - self.saturation_margin

    def summary(self) -> str:
        text = (f"I_NCE = {self.mean:.3f} +- {self.std:.3f} nats over {len(self.per_seed)} seed(s), "
                f"K = {self.k} (bound log K = {self.log_k:.3f})")
        if self.saturated:
            text += (f"; SATURATED: within {self.saturation_margin} nats of log K, so it says only that the "
                     "views share at least this much (a larger K would be needed)")
        return text

    def to_dict(self) -> dict:
        return {**asdict(self), "log_k": self.log_k, "mean": self.mean, "std": self.std, "saturated": self.saturated}


def _one_seed(source, k, steps, seed, width, embed_dim, temperature, lr, heldout_fraction, eval_batches, device):
    g = torch.Generator(device=device).manual_seed(seed)
    order = torch.randperm(len(source), generator=g, device=device)
    n_held = max(k, int(heldout_fraction * len(source)))
    held, train = order[:n_held], order[n_held:]
    if len(train) < k:
        raise ValueError(f"k={k} needs at least {k + n_held} items (k for training batches plus a held-out set), "
                         f"the view source has {len(source)}")

    def batch(pool):
        views = source(pool[torch.randperm(len(pool), generator=g, device=device)[:k]], g)[0]
        if len(views) != 2:
            raise ValueError(f"I_NCE needs a view pair, the source gave {len(views)} views")
        return views

    first = batch(train)
    torch.manual_seed(seed)
    critic = TwoViewCritic(width=width, proj_dim=embed_dim, temperature=temperature,
                           channels=(first[0].shape[1], first[1].shape[1]), head="linear").to(device)
    fit_critic(critic, lambda step: first if step == 0 else batch(train), steps,
               torch.optim.Adam(critic.parameters(), lr=lr))
    critic.eval()
    with torch.no_grad():
        held_loss = statistics.fmean(float(critic.nce_loss(critic.encode(batch(held)))) for _ in range(eval_batches))
    return math.log(k) - held_loss


def estimate_nce(view_source, k: int = 64, steps: int = 300, seeds=(0, 1, 2), width: int = 8, embed_dim: int = 64,
                 temperature: float = 0.1, lr: float = 2e-3, heldout_fraction: float = 0.2, eval_batches: int = 8,
                 saturation_margin: float = 0.1, device="cpu", on_seed=None) -> NCEEstimate:
    """Per seed, train a fresh critic pair for ``steps`` Adam steps on batches of ``k`` pairs and estimate
    I_NCE = log k - L_NCE on ``eval_batches`` batches of the held-out pairs (``heldout_fraction``).
    ``temperature`` scales the cosine logits to [-1/t, 1/t] (t = 0.1 lets the critic reach log k up to a
    few thousand). ``on_seed(done, total, value)`` reports progress."""
    if k < 2:
        raise ValueError(f"k (candidates per query) must be at least 2, got {k}")
    if steps < 1 or not seeds:
        raise ValueError(f"need steps >= 1 and at least one seed, got steps={steps}, seeds={list(seeds)}")
    seeds, per_seed = list(seeds), []
    for s in seeds:
        per_seed.append(_one_seed(view_source, k, steps, int(s), width, embed_dim, temperature, lr, heldout_fraction,
                                  eval_batches, device))
        if on_seed is not None:
            on_seed(len(per_seed), len(seeds), per_seed[-1])
    return NCEEstimate(k=k, per_seed=per_seed, steps=steps, saturation_margin=saturation_margin)


__all__ = ["NCEEstimate", "estimate_nce"]
