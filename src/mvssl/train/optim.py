"""Optimisers (SGD, AdamW, LARS) and the learning-rate plan of a run extended on resume (its
warm-up + cosine schedule, ``warmup_cosine``, is in ``nn/ema.py`` beside the other schedules)."""
from __future__ import annotations

import torch
from torch import nn

from ..nn.ema import warmup_cosine


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise trust ratios (You et al. 2017), as SimCLR uses it:
    for each parameter tensor w with gradient g (weight decay added to g first),
    the step is scaled by eta * ||w|| / ||g||. Biases and normalisation parameters
    (1-D tensors) skip both weight decay and the trust ratio."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.001):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta))

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if p.ndim > 1:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(g)
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm,
                                        torch.ones_like(w_norm))
                    g = g.mul(trust)
                buf = self.state[p].get("momentum_buffer")
                if buf is None:
                    buf = self.state[p]["momentum_buffer"] = torch.clone(g).detach()
                else:
                    buf.mul_(group["momentum"]).add_(g)
                p.add_(buf, alpha=-group["lr"])
        return loss


def param_groups(module: nn.Module, weight_decay: float, lr: float, lr_scales: dict[str, float] | None = None,
                 ndims: dict[str, int] | None = None) -> list[dict]:
    """No weight decay on biases and normalisation parameters (1-D; by ``ndims``' count where it names the
    parameter: several seeds stacked in one, whose stacked bias is 2-D). ``lr_scales`` maps a
    parameter-name prefix (e.g. ``"method.predictor"``) to a multiplier of ``lr`` for the
    parameters under it (SimSiam's and BYOL's faster predictor); the schedule scales every
    group's lr alike, so the ratio holds throughout."""
    lr_scales, ndims = lr_scales or {}, ndims or {}
    groups: dict[tuple[float, bool], list] = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        scale = next((s for prefix, s in lr_scales.items() if name == prefix or name.startswith(prefix + ".")), 1.0)
        groups.setdefault((scale, ndims.get(name, p.ndim) > 1), []).append(p)
    return [{"params": params, "lr": lr * scale, "weight_decay": weight_decay if decay else 0.0}
            for (scale, decay), params in sorted(groups.items(), key=lambda kv: (kv[0][0], not kv[0][1]))]


def build_optimizer(module: nn.Module, name: str, lr: float, weight_decay: float, momentum: float,
                    lr_scales: dict[str, float] | None = None, fused: bool = False):
    """``lr_scales``: a learning-rate multiplier per submodule name (e.g. a predictor's);
    ``fused``: torch's single-kernel SGD/AdamW step (all parameters at once, no Python loop)."""
    groups = param_groups(module, weight_decay, lr, lr_scales)
    if name == "lars":  # one group per lr: LARS skips weight decay and the trust ratio on 1-D tensors itself
        by_lr: dict[float, list] = {}
        for g in groups:
            by_lr.setdefault(g["lr"], []).extend(g["params"])
        return LARS([{"params": p, "lr": group_lr} for group_lr, p in by_lr.items()], lr=lr, momentum=momentum,
                    weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, fused=fused or None)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, fused=fused or None)
    raise ValueError(f"unknown optimiser {name!r}; choose from adamw, sgd, lars")


def replanned_lr(step: int, warmup_steps: int, ends: list[int]) -> float:
    """Learning-rate multiplier of a run extended on resume. ``ends``: the run's
    ``trainer.max_steps``, then each larger one an extension asked for. Steps before the first
    end follow ``warmup_cosine`` over it, as in a run never extended (so one end is exactly
    that); the steps each extension added get a warm restart (SGDR, Loshchilov & Hutter
    2017): a linear warm-up back to the full rate over ``min(warmup_steps, added // 5)`` steps,
    then a cosine to 0 at the new end. Extending without it left the added steps at the
    end of the finished cosine (a rate near 0: they learned little)."""
    start, end = 0, ends[0]
    for later in ends[1:]:
        if step < end:
            break
        start, end = end, later
    if start == 0:
        return warmup_cosine(step, warmup_steps, end)
    added = end - start
    return warmup_cosine(step - start, min(warmup_steps, added // 5), added)
