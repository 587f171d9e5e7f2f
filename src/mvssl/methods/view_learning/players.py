"""The players of view learning and the loss of one step. I_NCE = log N - L_NCE, with L_NCE CMC's two-sided
in-batch loss over both directions (``losses.cmc_loss`` / 2). Each step updates all players: the
encoders and heads descend L_NCE (raising the bound), the generator gets its *reversed* gradient (a
gradient-reversal layer), lowering it. As in the paper, the CE terms use a labelled batch only, and there
encoders, classifiers and generator all descend the CE (the encoders carry the classifiers' features, so
they are not its adversaries); the paper's lambda (``ce_weight``) is 1."""
from __future__ import annotations

import math

import torch
from torch import nn

from ...nn.critic import TwoViewCritic
from ...views.generator import ViewGenerator

MODES = ("unsupervised", "supervised", "semi-supervised", "contrastive")


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -grad


def reverse_grad(x: torch.Tensor) -> torch.Tensor:
    """Identity forward, negated gradient backward."""
    return _ReverseGrad.apply(x)


def module_device(module: nn.Module) -> torch.device:
    """Where ``module``'s parameters (or, for a generator without any, its buffers) live."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def nce_bound(loss: torch.Tensor | float, batch_size: int) -> float:
    """I_NCE = log N - L_NCE (a lower bound on I(v1; v2) for in-batch negatives)."""
    return math.log(batch_size) - float(loss)


def learning_step(generator: ViewGenerator, critic: TwoViewCritic, mode: str, unlabelled: torch.Tensor | None,
                  labelled: tuple[torch.Tensor, torch.Tensor] | None = None, ce_weight: float = 1.0,
                  held: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, float]:
    """Fill the gradients of one step of ``mode`` (see the package docstring); returns the
    step's I_NCE bound and cross-entropy (NaN where the mode has none). With a ``held``
    labelled batch the CE is split: the encoders and classifiers descend the CE of
    ``labelled`` on views the generator gets no gradient from, and the generator alone descends
    the CE of ``held`` (images the classifiers never fit), so it is rewarded for views a
    classifier can read the label from, not for views on which the classifiers memorised their
    labelled images."""
    if mode not in MODES:
        raise ValueError(f"unknown view-learning mode {mode!r}; choose from {list(MODES)}")
    total, out = torch.zeros(()), {"i_nce": float("nan"), "ce": float("nan")}
    if mode != "supervised":
        if mode == "contrastive":
            with torch.no_grad():
                views = generator.views(unlabelled)
        else:
            views = [reverse_grad(v) for v in generator.views(unlabelled)]
        nce = critic.nce_loss(critic.encode(views))
        total = total + nce
        out["i_nce"] = nce_bound(nce.detach(), len(unlabelled))
    generator_grads = None
    if mode in ("supervised", "semi-supervised"):
        if labelled is None:
            raise ValueError(f"mode {mode!r} needs a labelled batch")
        x, y = labelled
        views = generator.views(x)
        if held is not None:
            views = [v.detach() for v in views]
        ce = critic.ce_loss(critic.encode(views), y)
        total = total + ce_weight * ce
        out["ce"] = float(ce.detach())
        if held is not None:
            params = [p for p in generator.parameters() if p.requires_grad]
            held_ce = critic.ce_loss(critic.encode(generator.views(held[0])), held[1])
            out["held_ce"] = float(held_ce.detach())
            if params:
                generator_grads = torch.autograd.grad(ce_weight * held_ce, params)
    if not torch.isfinite(total) or not math.isfinite(out.get("held_ce", 0.0)):
        raise FloatingPointError(f"view learning ({mode}) loss is not finite: {out}")
    if total.requires_grad:
        total.backward()
    if generator_grads is not None:
        for p, grad in zip(params, generator_grads):
            p.grad = grad if p.grad is None else p.grad + grad
    return out


class ViewLearning(nn.Module):
    """The method: a view generator and its critic playing ``mode`` (``MODES``), the CE terms
    weighted by ``ce_weight``. ``ce_split`` (supervised and semi-supervised modes): the
    encoders and classifiers fit the CE of one fixed half of the labelled images ("fit") and the
    generator descends their CE on the other ("held"; ``learning_step``'s ``held``)."""

    def __init__(self, generator: ViewGenerator, critic: TwoViewCritic, mode: str, ce_weight: float = 1.0,
                 ce_split: bool = False):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown view-learning mode {mode!r}; choose from {list(MODES)}")
        self.generator, self.critic = generator, critic
        self.mode, self.ce_weight, self.ce_split = mode, ce_weight, ce_split

    @property
    def frozen(self) -> bool:
        """The generator does not move: CMC on its views, or a generator with nothing to learn."""
        return self.mode == "contrastive" or not any(True for _ in self.generator.parameters())

    @property
    def adversarial(self) -> bool:
        """A min-max game, in which the critic gets warm-up and catch-up steps of its own."""
        return self.mode in ("unsupervised", "semi-supervised") and not self.frozen

    @property
    def labelled(self) -> bool:
        return self.mode in ("supervised", "semi-supervised")

    def step(self, unlabelled, labelled=None, held=None) -> dict[str, float]:
        """One step of all players (their gradients filled; see ``learning_step``)."""
        return learning_step(self.generator, self.critic, self.mode, unlabelled, labelled, self.ce_weight, held=held)

    def critic_step(self, unlabelled, labelled=None) -> dict[str, float]:
        """The critic's players only (the generator's gradients are filled but not used): in
        the semi-supervised mode the encoders and classifiers also keep descending the CE."""
        if self.mode == "semi-supervised":
            return learning_step(self.generator, self.critic, self.mode, unlabelled, labelled, self.ce_weight)
        return learning_step(self.generator, self.critic, "contrastive", unlabelled)


@torch.no_grad()
def reinitialise(module: nn.Module, seed: int) -> None:
    """Draw ``module``'s weights afresh (every submodule's ``reset_parameters``, BatchNorm
    statistics included) from ``seed``, leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
