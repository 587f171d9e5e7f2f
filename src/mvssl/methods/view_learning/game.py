"""The adversarial loop of view learning, driven by a ``Schedule``: which player moves when.

In the adversarial modes every generator step follows ``critic_steps - 1`` critic-only steps on the
current, frozen views (in "semi-supervised" the critic's encoders and classifiers also descend the CE of
a labelled batch), so the generator lowers the bound of a critic that has caught up with it, not one it
has just outrun; ``critic_warmup`` critic-only steps run before its first step. ``critic_reset`` > 0
redraws the critic (weights, BN statistics, optimiser state) every that many generator steps and warms
the new one up, so the generator must remove what a critic trained from scratch reads rather than
exploit one critic's blind spots.

``select_best`` (adversarial modes, ``critic_warmup`` > 0) keeps, of the generator's states at the
start, at every reset and at the end, the one whose views score lowest against a critic *just warmed up
on them* (never played against): the mean I_NCE of its last ``SELECT_STEPS`` warm-up batches, plus
``ce_weight`` times a labelled batch's CE in the semi-supervised mode. That critic approximates the
min-max objective's inner max at that state, so this is the usual pick of the iterate with the best
objective, from training batches only. The generator and its own critic are set to the pick."""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from ...views.sources import LabelledPool
from .optim import TensorAdam
from .players import ViewLearning, reinitialise

GENERATOR_SCHEDULES = ("constant", "cosine")
GENERATOR_OPTIMIZERS = ("adam", "tensor-adam")
SELECT_STEPS = 10  # warm-up batches whose mean I_NCE scores a generator state (select_best)


@dataclass(frozen=True)
class Schedule:
    """``steps`` steps of all players on batches of ``batch_size`` unlabelled and
    ``labelled_batch_size`` labelled images, with the critic's extra steps and resets (module
    docstring). The critic descends with Adam at ``lr``; the generator with
    ``generator_optimizer`` (``"adam"``, or ``"tensor-adam"``: ``TensorAdam``) at
    ``generator_lr``, constant or decayed to 0 over the steps (``generator_schedule="cosine"``,
    half a cosine, so that it settles in a narrow minimum instead of stepping across it)."""

    steps: int
    batch_size: int = 128
    labelled_batch_size: int = 64
    critic_steps: int = 1
    critic_warmup: int = 0
    critic_reset: int = 0
    select_best: bool = False
    lr: float = 1e-3
    generator_lr: float = 1e-3
    generator_optimizer: str = "adam"
    generator_schedule: str = "constant"

    def __post_init__(self):
        if self.generator_schedule not in GENERATOR_SCHEDULES:
            raise ValueError(f"unknown generator schedule {self.generator_schedule!r}; choose from "
                             f"{list(GENERATOR_SCHEDULES)}")
        if self.critic_steps < 1:
            raise ValueError(f"critic_steps must be >= 1, got {self.critic_steps}")
        if self.critic_warmup < 0:
            raise ValueError(f"critic_warmup must be >= 0, got {self.critic_warmup}")
        if self.critic_reset < 0:
            raise ValueError(f"critic_reset must be >= 0 (0: never), got {self.critic_reset}")
        if self.generator_optimizer not in GENERATOR_OPTIMIZERS:
            raise ValueError(f"unknown generator optimizer {self.generator_optimizer!r}; choose from "
                             f"{list(GENERATOR_OPTIMIZERS)}")

    def events(self, adversarial: bool) -> Iterator[tuple[str, int]]:
        """The run in order, as (event, generator step): "warm-up" (the first critic's),
        "reset" (a new critic, warmed up), "critic" (a catch-up step), "play" (a step of all
        players), "pick" (keep the best scored state). Only a game has warm-up, catch-up and resets."""
        if adversarial and self.critic_warmup:
            yield "warm-up", 0
        for step in range(self.steps):
            if adversarial and self.critic_reset and step and step % self.critic_reset == 0:
                yield "reset", step
            for _ in range(self.critic_steps - 1 if adversarial else 0):
                yield "critic", step
            yield "play", step
        if self.select_best:  # the final state, scored the same way; then the pick
            yield "reset", self.steps
            yield "pick", self.steps


class _Game:
    """One run's players, optimisers, batches and the scored generator states."""

    def __init__(self, method: ViewLearning, data: LabelledPool, schedule: Schedule, seed: int):
        self.method, self.data, self.schedule, self.seed = method, data, schedule, seed
        self.g = torch.Generator().manual_seed(seed)
        method.critic.train()
        method.generator.requires_grad_(not method.frozen)
        self.critic_opt = self._critic_optimizer()
        optimizer = torch.optim.Adam if schedule.generator_optimizer == "adam" else TensorAdam
        self.generator_opt = None if method.frozen else optimizer(method.generator.parameters(), lr=schedule.generator_lr)
        self.lr_schedule = None
        if self.generator_opt is not None and schedule.generator_schedule == "cosine":
            steps = schedule.steps
            self.lr_schedule = torch.optim.lr_scheduler.LambdaLR(
                self.generator_opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / steps)))
        if schedule.select_best and not (method.adversarial and schedule.critic_warmup > 0):
            raise ValueError("select_best needs an adversarial mode and critic_warmup > 0 "
                             "(the score is a warmed-up critic's)")
        self.fit_part = "fit" if method.ce_split else None
        self.candidates, self.best = [], {}

    def _critic_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.method.critic.parameters(), lr=self.schedule.lr, weight_decay=1e-5)

    def critic_step(self) -> dict:
        self.critic_opt.zero_grad(set_to_none=True)
        xu = self.data.unlabelled(self.schedule.batch_size, self.g)
        xl = (self.data.labelled(self.schedule.labelled_batch_size, self.g, self.fit_part)
              if self.method.mode == "semi-supervised" else None)
        out = self.method.critic_step(xu, xl)
        self.critic_opt.step()
        return out

    def play(self) -> dict:
        method, s, g = self.method, self.schedule, self.g
        xu = self.data.unlabelled(s.batch_size, g) if method.mode != "supervised" else None
        xl = self.data.labelled(s.labelled_batch_size, g, self.fit_part) if method.labelled else None
        held = method.labelled and method.ce_split and self.generator_opt is not None
        xh = self.data.labelled(s.labelled_batch_size, g, "held") if held else None
        self.critic_opt.zero_grad(set_to_none=True)
        if self.generator_opt is not None:
            self.generator_opt.zero_grad(set_to_none=True)
        stats = method.step(xu, xl, held=xh)
        self.critic_opt.step()
        if self.generator_opt is not None:
            self.generator_opt.step()
        if self.lr_schedule is not None:
            self.lr_schedule.step()
        return stats

    def warm_up(self, step: int, played: dict | None = None) -> None:
        """Warm the (new) critic up on the current views; with ``select_best``, score them and
        keep the state if it is the best so far, with ``played`` (the adversary that played it;
        None: this warmed-up critic)."""
        stats = [self.critic_step() for _ in range(self.schedule.critic_warmup)]
        if not self.schedule.select_best:
            return
        method = self.method
        last = stats[-SELECT_STEPS:]
        score = sum(s["i_nce"] for s in last) / len(last)
        if method.mode == "semi-supervised":
            with torch.no_grad():
                x, y = self.data.labelled(self.schedule.labelled_batch_size, self.g,
                                          "held" if method.ce_split else None)
                score += method.ce_weight * float(method.critic.ce_loss(method.critic.encode(method.generator.views(x)), y))
        self.candidates.append({"step": step, "score": score})
        if not self.best or score < self.best["score"]:
            self.best.update(step=step, score=score, generator=copy.deepcopy(method.generator.state_dict()),
                             critic=played if played is not None else copy.deepcopy(method.critic.state_dict()))

    def reset(self, step: int) -> None:
        """Redraw the critic (from the seed and the step) with a fresh optimiser, and warm it up."""
        played = copy.deepcopy(self.method.critic.state_dict()) if self.schedule.select_best else None
        reinitialise(self.method.critic, seed=self.seed * 1000 + step)
        self.critic_opt = self._critic_optimizer()
        self.warm_up(step, played)

    def pick(self, selection: dict | None) -> None:
        self.method.generator.load_state_dict(self.best["generator"])
        self.method.critic.load_state_dict(self.best["critic"])
        if selection is not None:
            selection.update(candidates=self.candidates, step=self.best["step"], score=self.best["score"])


def train_views(method: ViewLearning, data: LabelledPool, schedule: Schedule, seed: int = 0,
                on_step: Callable[[int, dict], None] | None = None, selection: dict | None = None) -> list[dict]:
    """Play ``method`` on batches of ``data`` (drawn from ``seed``) as ``schedule`` says; returns
    each generator step's ``learning_step`` output (``on_step(step, stats)`` after each). In
    "contrastive" mode the generator is frozen. ``selection`` (a dict, if given) receives, with
    ``select_best``, every candidate's step and score and the pick. The generator is left frozen."""
    game = _Game(method, data, schedule, seed)
    history = []
    for event, step in schedule.events(method.adversarial):
        if event == "warm-up":
            game.warm_up(step)
        elif event == "reset":
            game.reset(step)
        elif event == "critic":
            game.critic_step()
        elif event == "play":
            history.append(game.play())
            if on_step is not None:
                on_step(step, history[-1])
        else:
            game.pick(selection)
    method.generator.requires_grad_(False)
    return history
