"""The view generator's optimiser choice beside Adam."""
from __future__ import annotations

import torch


class TensorAdam(torch.optim.Optimizer):
    """Adam with one second-moment estimate per parameter *tensor* (the running mean of its
    squared gradient entries) instead of one per entry. Per-entry Adam divides every coordinate
    by its own gradient scale, so while the gradient's signs persist it steps along the
    diagonals of the parameters' coordinate system whatever the gradient's direction; here the
    step is the bias-corrected momentum of the gradient over one scale per tensor, so it follows
    the gradient's direction, and a change of basis of a linear layer's weights (RGB against
    YDbDr coordinates, say) changes only that direction, not the rule."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, m=torch.zeros_like(p), v=torch.zeros((), device=p.device))
                state["step"] += 1
                state["m"].mul_(b1).add_(p.grad, alpha=1 - b1)
                state["v"].mul_(b2).add_(p.grad.pow(2).mean(), alpha=1 - b2)
                m_hat = state["m"] / (1 - b1 ** state["step"])
                v_hat = state["v"] / (1 - b2 ** state["step"])
                p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))
