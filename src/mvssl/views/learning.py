"""Learning InfoMin's view generator, then contrastive learning on its frozen views
(Tian et al. 2020, Sec. 4.1 and Fig. 2). With views v1 = g(X)_1, v2 = g(X)_{2:3}, encoders
f1, f2 (each with a projection head) and classifiers c1, c2 on the encoders' features:

    unsupervised:     min_g max_{f1,f2} I_NCE(v1; v2)
    supervised:       min_{g,f,c} CE(c1(f1(v1)), y) + CE(c2(f2(v2)), y)        (labelled batches only)
    semi-supervised:  min_{g,c} max_{f1,f2} I_NCE(v1; v2) + lambda [CE(c1(f1(v1)), y) + CE(c2(f2(v2)), y)]
    contrastive:      g frozen, max_{f1,f2} I_NCE(v1; v2)                     (CMC on the learned views)

I_NCE = log N - L_NCE, with L_NCE CMC's two-sided in-batch loss averaged over the two
directions (``losses.cmc_loss`` / 2) over a batch of N images. Every step makes one update
of all players: the encoders and heads descend L_NCE (raising the bound) while the generator
gets the *reversed* gradient of the same loss (a gradient-reversal layer between g and the
encoders), so it lowers the bound. As in the paper, labelled and unlabelled batches are used
in turn within a step: the cross-entropy terms are computed on a labelled batch only, and
there the encoders, classifiers and generator all descend the CE (the encoders carry the
classifiers' features, so they are not adversaries of the CE). The paper has lambda = 1
(``ce_weight``).
"""
from __future__ import annotations

import copy
import math
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from ..losses import cmc_loss
from ..nn import build_backbone, mlp
from .generator import ViewGenerator

MODES = ("unsupervised", "supervised", "semi-supervised", "contrastive")
GENERATOR_SCHEDULES = ("constant", "cosine")
GENERATOR_OPTIMIZERS = ("adam", "tensor-adam")
SELECT_STEPS = 10  # warm-up batches whose mean I_NCE scores a generator state (select_best)


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


class ViewData(Protocol):
    """Batches of RGB float images in [0, 1] drawn with an explicit generator."""

    def unlabelled(self, n: int, g: torch.Generator) -> torch.Tensor: ...

    def labelled(self, n: int, g: torch.Generator, part: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A labelled batch from all labelled images (``part=None``) or from one of the two
        fixed, disjoint halves of them (``"fit"``, ``"held"``: see ``train_views``'s ``ce_split``)."""
        ...


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


class TwoViewCritic(nn.Module):
    """f1, f2 (one backbone per view: 1 and 2 input channels), projection heads, and linear
    classifiers c1, c2 on the features. ``features`` (the concatenation, as CMC evaluates) is
    what the linear probe reads."""

    def __init__(self, num_classes: int, backbone: str = "convnet", width: int = 16, proj_dim: int = 64,
                 temperature: float = 0.1, channels: tuple[int, int] = (1, 2)):
        super().__init__()
        built = [build_backbone(backbone, width, in_channels=c) for c in channels]
        self.encoders = nn.ModuleList(m for m, _ in built)
        dims = [d for _, d in built]
        self.heads = nn.ModuleList(mlp([d, 2 * d, proj_dim]) for d in dims)
        self.classifiers = nn.ModuleList(nn.Linear(d, num_classes) for d in dims)
        self.temperature = temperature

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        return [f(v) for f, v in zip(self.encoders, views)]

    def nce_loss(self, h: list[torch.Tensor]) -> torch.Tensor:
        z = [head(hv) for head, hv in zip(self.heads, h)]
        return cmc_loss(z, [(0, 1)], self.temperature) / 2

    def ce_loss(self, h: list[torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
        return sum(F.cross_entropy(c(hv), labels) for c, hv in zip(self.classifiers, h))

    def features(self, views: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(self.encode(views), 1)


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
    """Fill the gradients of one step of ``mode`` (see the module docstring); returns the
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


def train_views(generator: ViewGenerator, critic: TwoViewCritic, data: ViewData, mode: str, steps: int,
                batch_size: int = 128, labelled_batch_size: int = 64, lr: float = 1e-3, generator_lr: float = 1e-3,
                seed: int = 0, ce_weight: float = 1.0, critic_steps: int = 1, generator_schedule: str = "constant",
                critic_warmup: int = 0, critic_reset: int = 0, ce_split: bool = False,
                select_best: bool = False, selection: dict | None = None, generator_optimizer: str = "adam",
                on_step: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Run ``steps`` steps of ``mode``; returns each step's ``learning_step`` output.
    In "contrastive" mode the generator is frozen (not updated). In the adversarial modes
    ("unsupervised", "semi-supervised") every generator step is preceded by
    ``critic_steps - 1`` critic-only steps (the critic raises the bound on the current, frozen
    views of fresh batches; in "semi-supervised" its encoders and classifiers also descend the
    CE on a labelled batch), so the generator lowers the bound of a critic that has caught up
    with it rather than one it has just outrun. ``generator_schedule="cosine"`` decays the
    generator's learning rate from ``generator_lr`` to 0 over the steps (half a cosine), so that
    it settles in a narrow minimum instead of stepping across it. ``critic_warmup`` critic-only
    steps of the same kind run before the first generator step, so the generator's first
    gradients come from a critic that already reads the views rather than from a random one.
    ``critic_reset`` > 0 re-initialises the adversarial critic (weights, BatchNorm statistics,
    optimiser state) every that many generator steps and warms the new one up for
    ``critic_warmup`` steps, so the generator cannot keep lowering the bound of one critic by
    exploiting its blind spots: it must remove what a critic trained from scratch reads.
    ``ce_split`` (supervised and semi-supervised modes) splits the labelled images into two
    fixed halves: the encoders and classifiers fit the CE of one ("fit") and the generator
    descends their CE on the other ("held"; ``learning_step``'s ``held``).

    ``select_best`` (adversarial modes, with ``critic_warmup`` > 0) keeps, of the generator's
    states at the start, at every critic reset and at the end, the one whose views score lowest
    against a critic *just warmed up on them* (re-initialised and trained ``critic_warmup`` steps
    on the frozen views, never played against): the mean I_NCE of its last ``SELECT_STEPS``
    warm-up batches, plus ``ce_weight`` times the CE of a labelled batch in the semi-supervised
    mode (a held-half batch with ``ce_split``). That critic approximates the inner max of the
    min-max objective at that state, so this is the usual pick of the iterate with the best
    objective, made from training batches only (no probe, no label beyond the mode's own). The
    generator and its own critic (the adversary that played it) are set to the pick;
    ``selection`` (a dict, if given) receives every candidate's step and score and the pick.
    ``generator_optimizer``: ``"adam"`` (per-coordinate second moments) or ``"tensor-adam"``
    (``TensorAdam``: one second moment per parameter tensor)."""
    if generator_schedule not in GENERATOR_SCHEDULES:
        raise ValueError(f"unknown generator schedule {generator_schedule!r}; choose from {list(GENERATOR_SCHEDULES)}")
    if critic_steps < 1:
        raise ValueError(f"critic_steps must be >= 1, got {critic_steps}")
    if critic_warmup < 0:
        raise ValueError(f"critic_warmup must be >= 0, got {critic_warmup}")
    if critic_reset < 0:
        raise ValueError(f"critic_reset must be >= 0 (0: never), got {critic_reset}")
    g = torch.Generator().manual_seed(seed)
    critic.train()
    frozen = mode == "contrastive" or not any(True for _ in generator.parameters())
    generator.requires_grad_(not frozen)
    critic_opt = {"adam": torch.optim.Adam(critic.parameters(), lr=lr, weight_decay=1e-5)}
    if generator_optimizer not in GENERATOR_OPTIMIZERS:
        raise ValueError(f"unknown generator optimizer {generator_optimizer!r}; choose from {list(GENERATOR_OPTIMIZERS)}")
    optimizer = torch.optim.Adam if generator_optimizer == "adam" else TensorAdam
    opt_gen = None if frozen else optimizer(generator.parameters(), lr=generator_lr)
    schedule = None
    if opt_gen is not None and generator_schedule == "cosine":
        schedule = torch.optim.lr_scheduler.LambdaLR(opt_gen, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
    history = []
    fit_part = "fit" if ce_split else None
    adversarial = mode in ("unsupervised", "semi-supervised") and opt_gen is not None

    def critic_step() -> dict:  # the critic's players only: the generator's gradients are dropped
        opt_critic = critic_opt["adam"]
        opt_critic.zero_grad(set_to_none=True)
        if mode == "semi-supervised":  # encoders and classifiers also keep descending the CE
            out = learning_step(generator, critic, mode, data.unlabelled(batch_size, g),
                                data.labelled(labelled_batch_size, g, fit_part), ce_weight)
        else:
            out = learning_step(generator, critic, "contrastive", data.unlabelled(batch_size, g))
        opt_critic.step()
        return out

    if select_best and not (adversarial and critic_warmup > 0):
        raise ValueError("select_best needs an adversarial mode and critic_warmup > 0 (the score is a warmed-up critic's)")
    candidates, best = [], {}

    def warm_up_and_score(step: int, played: dict) -> None:
        """Warm the (new) critic up on the current views; with ``select_best``, score them and
        keep the state if it is the best so far (``played``: the adversary's state to keep)."""
        stats = [critic_step() for _ in range(critic_warmup)]
        if not select_best:
            return
        last = stats[-SELECT_STEPS:]
        score = sum(s["i_nce"] for s in last) / len(last)
        if mode == "semi-supervised":
            with torch.no_grad():
                x, y = data.labelled(labelled_batch_size, g, "held" if ce_split else None)
                score += ce_weight * float(critic.ce_loss(critic.encode(generator.views(x)), y))
        candidates.append({"step": step, "score": score})
        if not best or score < best["score"]:
            best.update(step=step, score=score, generator=copy.deepcopy(generator.state_dict()), critic=played)

    def new_critic(step: int) -> None:
        reinitialise(critic, seed=seed * 1000 + step)
        critic_opt["adam"] = torch.optim.Adam(critic.parameters(), lr=lr, weight_decay=1e-5)

    if adversarial and critic_warmup:
        warm_up_and_score(0, None)
        if best:  # the untrained generator: its adversary is this warmed-up critic
            best["critic"] = copy.deepcopy(critic.state_dict())
    for step in range(steps):
        if adversarial and critic_reset and step and step % critic_reset == 0:
            played = copy.deepcopy(critic.state_dict()) if select_best else None
            new_critic(step)
            warm_up_and_score(step, played)
        opt_critic = critic_opt["adam"]
        for _ in range(critic_steps - 1 if adversarial else 0):
            critic_step()
        xu = data.unlabelled(batch_size, g) if mode != "supervised" else None
        labels = mode in ("supervised", "semi-supervised")
        xl = data.labelled(labelled_batch_size, g, fit_part) if labels else None
        xh = data.labelled(labelled_batch_size, g, "held") if labels and ce_split and opt_gen is not None else None
        opt_critic.zero_grad(set_to_none=True)
        if opt_gen is not None:
            opt_gen.zero_grad(set_to_none=True)
        stats = learning_step(generator, critic, mode, xu, xl, ce_weight, held=xh)
        opt_critic.step()
        if opt_gen is not None:
            opt_gen.step()
        if schedule is not None:
            schedule.step()
        history.append(stats)
        if on_step is not None:
            on_step(step, stats)
    if select_best:  # the final state, scored the same way; then the pick
        played = copy.deepcopy(critic.state_dict())
        new_critic(steps)
        warm_up_and_score(steps, played)
        generator.load_state_dict(best["generator"])
        critic.load_state_dict(best["critic"])
        if selection is not None:
            selection.update(candidates=candidates, step=best["step"], score=best["score"])
    generator.requires_grad_(False)
    return history


@torch.no_grad()
def reinitialise(module: nn.Module, seed: int) -> None:
    """Draw ``module``'s weights afresh (every submodule's ``reset_parameters``, BatchNorm
    statistics included) from ``seed``, leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()


@torch.no_grad()
def embed(generator: ViewGenerator, critic: TwoViewCritic, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Frozen concatenated features of uint8 images [N, 3, H, W]."""
    critic.eval()
    device = module_device(critic)
    return torch.cat([critic.features(generator.views(images[i:i + batch].to(device).float() / 255)).cpu()
                      for i in range(0, len(images), batch)])


def fresh_critic_bound(generator: ViewGenerator, data: ViewData, images: torch.Tensor, critic_kw: dict,
                       steps: int, seed: int, batch_size: int = 128, eval_batch: int = 1000) -> tuple[float, TwoViewCritic]:
    """I_NCE of the frozen views of ``generator`` measured by a critic trained from scratch
    (initialisation and batches from ``seed``) for ``steps`` contrastive steps, on held-out
    ``images``. Unlike the adversarial critic's bound, a generator cannot have fooled this
    critic: it never saw it. Returns the bound and the critic."""
    torch.manual_seed(seed)
    critic = TwoViewCritic(**critic_kw).to(module_device(generator))
    train_views(generator, critic, data, "contrastive", steps, batch_size, seed=seed)
    return held_out_bound(generator, critic, images, min(eval_batch, len(images))), critic


@torch.no_grad()
def held_out_bound(generator: ViewGenerator, critic: TwoViewCritic, images: torch.Tensor, batch: int = 256) -> float:
    """Mean I_NCE bound of the frozen critic over full batches of ``batch`` held-out uint8 images."""
    critic.eval()
    n = len(images) // batch
    if n == 0:
        raise ValueError(f"need at least {batch} images for the held-out I_NCE, got {len(images)}")
    device = module_device(critic)
    losses = [critic.nce_loss(critic.encode(generator.views(images[i * batch:(i + 1) * batch].to(device).float() / 255)))
              for i in range(n)]
    return nce_bound(torch.stack(losses).mean(), batch)


@torch.no_grad()
def refresh_batch_norm(generator: ViewGenerator, critic: TwoViewCritic, data: ViewData, batch_size: int = 128,
                       batches: int = 8, seed: int = 0) -> None:
    """Re-estimate the critic's batch-norm statistics on the generator's final views (their
    plain average over ``batches`` fresh batches). An adversarial critic's running statistics
    trail views that kept moving during training; without this its held-out bound in eval mode
    would measure that lag, not the views."""
    g = torch.Generator().manual_seed(seed)
    norms = [m for m in critic.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    critic.train()
    for _ in range(batches):
        critic.nce_loss(critic.encode(generator.views(data.unlabelled(batch_size, g))))
    for m, momentum in zip(norms, saved):
        m.momentum = momentum


class LearnedViewsEncoder(nn.Module):
    """The encoder a view-learning row keeps: its frozen generator and the CMC encoders trained
    on its views, as one backbone for ``mvssl.load`` (``Encoder.embed``). It takes RGB images
    normalised by the recipe (``mean``, ``std``, as every mvssl backbone does), undoes that, and
    returns the concatenated features of the two learned views (what the linear probe reads)."""

    def __init__(self, generator: ViewGenerator, critic: TwoViewCritic, mean, std):
        super().__init__()
        self.generator, self.critic = generator, critic
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32)[:, None, None], persistent=False)

    @classmethod
    def from_config(cls, method: dict, mean, std) -> "LearnedViewsEncoder":
        """From the ``method`` section a row's config.yaml holds (see ``experiments.view_learning``)."""
        generator = ViewGenerator(method["space"], method["layers"], method["coupling"],
                                  linear_layers=method.get("linear_layers", 0))
        critic = TwoViewCritic(num_classes=method["num_classes"], width=method["width"],
                               temperature=method["temperature"])
        return cls(generator, critic, mean, std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic.features(self.generator.views(x.float() * self.std + self.mean))
