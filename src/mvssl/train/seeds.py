"""Several seeds in one model (``mvssl train --seeds K``, ``train_seeds``): the K seeds of one
config trained side by side as one K-wide network (``nn/stacked.py``), one optimiser step for
all of them, each seed into its own run folder. Each seed is the run ``mvssl train
--trainer.seed S`` would make (its initial weights bitwise, its data order and views: seeded by
``step_seed(S, 0, step)``) except for the rounding of grouped and batched sums; what is and is
not the same, the limits (``check_batchable``) and the measured equivalence: docs/performance.md,
"Several seeds in one model". The batched run writes no checkpoints."""
from __future__ import annotations

import contextlib
import itertools
import math
import time
from datetime import datetime
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError, deep_update
from ..data.files import FileSplits
from ..build import build_dataset
from ..data.batches import IndexBatches, endless
from ..methods.base import n_global_views
from ..methods.byol import BYOL, byol_pass
from ..nn.stacked import seed_state, stack_state, stacked_like
from .finish import describe_data, finish_run
from .metrics_log import METRICS_FILE, write_rows_atomic
from .module import step_seed
from .monitor import EmbeddingMonitor
from .new_run import new_run_config, training_module
from .optim import param_groups, replanned_lr
from .precision import on_gpu, resolve_precision
from .preflight import check_machine
from .run_folder import place_run_folder
from .threads import apply_thread_rule

METHODS = ("simclr", "byol")  # those with a stacked form (STACKED)
# keys the K configs may differ in: each seed's own
OWN_KEYS = (("trainer", "seed"), ("trainer", "name"))


def check_batchable(cfg: dict) -> None:
    """Refuse, in one line naming the key, a config several seeds in one model cannot train."""
    t, m = cfg["trainer"], cfg["method"]
    why = None
    if m["name"] not in METHODS:
        why = f"method {m['name']}: several seeds in one model train {', '.join(METHODS)} only"
    elif cfg["backbone"]["name"] != "convnet":
        why = f"backbone.name {cfg['backbone']['name']}: several seeds in one model take the convnet backbone only"
    elif cfg["data"]["dataset"] != "cmnist" and cfg["data"].get("in_memory") is False:
        why = "data.in_memory false: several seeds in one model need the images in memory"
    elif t["devices"] * t["num_nodes"] != 1:
        why = "trainer.devices/num_nodes: several seeds in one model run in one process"
    elif t["sync_batchnorm"] or t["compile"] is True:  # auto: eager for the convnet (train/compile_rule.py)
        why = f"trainer.{'sync_batchnorm' if t['sync_batchnorm'] else 'compile'} true: not with several seeds in one model"
    elif t["on_nan"] != "stop":
        why = "trainer.on_nan skip: several seeds in one model stop on a non-finite loss (on_nan stop)"
    elif cfg["optim"]["name"] not in ("adamw", "sgd"):
        why = (f"optim.name {cfg['optim']['name']}: LARS scales each tensor by its norm; several seeds in one model "
               "take adamw or sgd")
    elif t.get("init_from") or cfg["backbone"].get("weights"):
        why = "--init-from / backbone.weights: several seeds in one model start from random weights"
    elif t["precision"] == "16-mixed":
        why = "trainer.precision 16-mixed: several seeds in one model take 32 or bf16-mixed"
    elif t["logger"] != "csv":
        why = f"trainer.logger {t['logger']}: several seeds in one model write each seed's logs/metrics.csv only"
    elif t["deterministic"]:
        why = "trainer.deterministic true: not with several seeds in one model"
    elif m.get("head", "mlp") not in ("mlp", "linear", "none"):
        why = f"method.head {m.get('head')}: no stacked form"
    if why:
        raise ConfigError(why)


def seed_configs(user: dict, seeds: int) -> list[dict]:
    """``mvssl train --seeds K``: the user config at seeds trainer.seed, +1, ..., +K-1, each named
    ``NAME-seedS`` (NAME: trainer.name, or the method and the time)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    t, method = user.get("trainer") or {}, user.get("method") or "simclr"
    first = int(t.get("seed", 0))
    name = t.get("name") or f"{method.get('name', 'simclr') if isinstance(method, dict) else method}-" \
                            f"{datetime.now():%Y%m%d-%H%M%S}"
    return [deep_update(user, {"trainer": {"seed": first + i, "name": f"{name}-seed{first + i}"}}) for i in range(seeds)]


def _same_but_seed(cfgs: list[dict]) -> None:
    """Refuse K resolved configs that differ in more than each seed's own keys (``OWN_KEYS``)."""
    first = cfgs[0]
    for cfg in cfgs[1:]:
        diff = [f"{s}.{k}" for s in first for k in first[s] if (s, k) not in OWN_KEYS and
                first[s][k] != cfg.get(s, {}).get(k)]
        if diff:
            raise ConfigError(f"several seeds in one model train one config at several seeds; {diff[0]} differs")
    seeds = [c["trainer"]["seed"] for c in cfgs]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"several seeds in one model: trainer.seed repeats ({seeds})")
    names = [c["trainer"]["name"] for c in cfgs]
    if not all(names) or len(set(names)) != len(names):
        raise ConfigError(f"several seeds in one model: each seed needs its own trainer.name ({names})")


def stacked_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """``losses.nt_xent`` of each seed at once: z1, z2 [K, N, D] -> [K]."""
    k, n, _ = z1.shape
    z = F.normalize(torch.cat([z1, z2], 1).float(), dim=-1)
    sim = torch.bmm(z, z.transpose(1, 2)) / temperature
    eye = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))  # not its own negative
    positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    losses = F.cross_entropy(sim.reshape(k * 2 * n, 2 * n), positive.repeat(k), reduction="none")
    return losses.reshape(k, 2 * n).mean(1)


class StackedSimCLR(nn.Module):
    """K SimCLR methods in one: views [K, N, C, H, W] each -> (losses [K], features of view 1
    [K, N, D], projections per view)."""

    def __init__(self, singles: list[nn.Module]):
        super().__init__()
        k = len(singles)
        self.backbone = stacked_like(singles[0].backbone, k)
        self.projector = stacked_like(singles[0].projector, k)
        self.temperature = singles[0].temperature

    def forward(self, views: list[torch.Tensor]):
        n = views[0].shape[1]
        h = self.backbone(torch.cat(views, 1))  # one pass: BN statistics span every view, as in SimCLR
        z = self.projector(h).split(n, 1)
        pairs = list(itertools.combinations(range(len(views)), 2))
        loss = sum(stacked_nt_xent(z[a], z[b], self.temperature) for a, b in pairs) / len(pairs)
        return loss, h[:, :n], list(z)


class StackedBYOL(nn.Module):
    """K BYOL methods in one (online backbone, projector, predictor; EMA targets): views
    [K, N, C, H, W] each, one forward pass per view as BYOL's reference code; the EMA update
    is elementwise, so one update of the stacked target is each seed's own."""

    def __init__(self, singles: list[nn.Module]):
        super().__init__()
        k, first = len(singles), singles[0]
        for name in ("backbone", "projector", "predictor", "target_backbone", "target_projector"):
            setattr(self, name, stacked_like(getattr(first, name), k))
        self.target_backbone.requires_grad_(False)
        self.target_projector.requires_grad_(False)
        self.lr_scales = dict(first.lr_scales)
        self.base_momentum, self.momentum = first.base_momentum, first.momentum

    def forward(self, views: list[torch.Tensor]):
        loss, h, z = byol_pass(self, views, n_global_views([v[0] for v in views]))
        return loss, h[0], z

    on_step_end = BYOL.on_step_end  # the same EMA update, elementwise over the stacked tensors


STACKED = {"simclr": StackedSimCLR, "byol": StackedBYOL}


class StackedRun(nn.Module):
    """The K seeds' ``SSLModule`` parameters (method and online probe) as one module with the same keys."""

    def __init__(self, modules: list):
        super().__init__()
        self.method = STACKED[modules[0].config["method"]["name"]]([m.method for m in modules])
        self.probe = stacked_like(modules[0].probe, len(modules)) if modules[0].probe is not None else None
        stack_state(self, [m.state_dict() for m in modules])
        if modules[0].channels_last:
            self.method.backbone.to(memory_format=torch.channels_last)

    def losses(self, views: list[torch.Tensor], y: torch.Tensor | None):
        """(SimCLR losses [K], online-probe losses [K] or None, probe logits, projections) of a step:
        views [K, N, C, H, W] each, probe targets y [K, N] (-1: unlabelled). The training step
        minimises the sum of both: each seed's weights get that seed's gradient only."""
        losses, features, z = self.method(views)
        if self.probe is None:
            return losses, None, None, z
        logits = self.probe(features.detach().float())
        k, n = y.shape
        known = (y >= 0).sum(1).clamp(min=1)  # unlabelled images (STL-10's) have label -1
        probe = F.cross_entropy(logits.reshape(k * n, -1), y.reshape(-1), ignore_index=-1,
                                reduction="none").reshape(k, n).sum(1) / known
        return losses, probe, logits, z

    def unstack_into(self, modules: list) -> None:
        """Each seed's trained weights back into its ``SSLModule``."""
        for i, m in enumerate(modules):
            m.load_state_dict(seed_state(self, m, len(modules), i))


def stacked_param_groups(stacked: StackedRun, single: nn.Module, lr: float, weight_decay: float) -> list[dict]:
    """``optim.param_groups`` of the single run, for the stacked parameters: weight decay where the
    single tensor has more than one dimension (not the stacked one's: a stacked bias is 2-D), and
    the method's ``lr_scales`` (BYOL's predictor)."""
    scales = {f"method.{name}": s for name, s in getattr(stacked.method, "lr_scales", {}).items()}
    return param_groups(stacked, weight_decay, lr, scales, {name: p.ndim for name, p in single.named_parameters()})


def _batchable_configs(user_configs: list[dict]) -> list[dict]:
    """The resolved configs, refused in one line unless one config at several seeds that batches."""
    cfgs = [new_run_config(u)[0] for u in user_configs]
    for cfg in cfgs:
        check_batchable(cfg)
    _same_but_seed(cfgs)
    return cfgs


def train_seeds(user_configs: list[dict], echo=print) -> list[tuple[Path, dict]]:
    """Train the K configs (one config at K seeds, each with its own ``trainer.name``) as one
    stacked model; returns each seed's (run folder, metrics), as ``train`` does for one run."""
    cfgs = _batchable_configs(user_configs)
    cfg0, k = cfgs[0], len(cfgs)
    check_machine(cfg0)
    device = torch.device("cuda" if on_gpu(cfg0["trainer"]["accelerator"]) else "cpu")
    precision = resolve_precision(cfg0["trainer"]["precision"], cfg0["trainer"]["accelerator"])
    if precision not in ("32", "bf16-mixed"):
        raise ConfigError(f"trainer.precision {precision}: several seeds in one model take 32 or bf16-mixed")
    L.seed_everything(cfgs[0]["trainer"]["seed"], workers=True, verbose=False)
    dataset = build_dataset(cfg0, "train")
    if isinstance(dataset, FileSplits):
        raise ConfigError("several seeds in one model need the images in memory (data.in_memory true)")
    modules, probe_classes = [], 0
    for cfg in cfgs:  # each seed's module exactly as its own run builds it
        L.seed_everything(cfg["trainer"]["seed"], workers=True, verbose=False)
        module, probe_classes = training_module(cfg, dataset, echo)
        modules.append(module)
    with contextlib.ExitStack() as held:
        run_dirs = [place_run_folder(cfg, held) for cfg in cfgs]
        threads = apply_thread_rule(1)  # as a single run (train/threads.py)
        echo(f"{k} seeds in one model ({', '.join(str(c['trainer']['seed']) for c in cfgs)}): run folders "
             f"{', '.join(str(d) for d in run_dirs)}  (method {cfg0['method']['name']}, backbone convnet, "
             f"{describe_data(cfg0)}, precision {precision}, {cfg0['trainer']['max_steps']} steps of batch "
             f"{cfg0['optim']['batch_size']}, {threads})")
        train_seconds, steps = _fit(cfgs, modules, run_dirs, device, precision, echo)
        for module in modules:
            module.to("cpu")
        results = []
        for cfg, module, run_dir in zip(cfgs, modules, run_dirs):
            metrics = {"train_seconds": train_seconds, "steps": steps, "precision": precision, "skipped_steps": 0,
                       "resumed_from_step": None, "skipped_images": list(getattr(dataset, "skipped", [])),
                       "seeds_in_one_model": [c["trainer"]["seed"] for c in cfgs]}
            results.append((run_dir, finish_run(cfg, run_dir, module.method, dataset, metrics, probe_classes, echo)))
    return results


def _fit(cfgs: list[dict], modules: list, run_dirs: list[Path], device, precision: str, echo) -> tuple[float, int]:
    """The training loop of the stacked model; returns (seconds, steps)."""
    cfg0, k = cfgs[0], len(cfgs)
    o, t = cfg0["optim"], cfg0["trainer"]
    stacked = StackedRun(modules).to(device)
    stacked.train()
    groups = stacked_param_groups(stacked, modules[0], o["lr"], o["weight_decay"])
    opt = (torch.optim.AdamW(groups, lr=o["lr"]) if o["name"] == "adamw" else
           torch.optim.SGD(groups, lr=o["lr"], momentum=o["momentum"]))
    sched = None if o["schedule"] == "constant" else torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: replanned_lr(step, o["warmup_steps"], [t["max_steps"]]))
    sources = [m.view_source.to(device) for m in modules]
    orders = [IndexBatches(len(sources[0]), o["batch_size"], seed=c["trainer"]["seed"]) for c in cfgs]
    first_batches, epoch_steps = [endless(order) for order in orders], len(orders[0])
    generators = [torch.Generator(device=device) for _ in cfgs]
    monitors = [EmbeddingMonitor(t["collapse_std"], t["collapse_rank"], er=t["er_monitor"], kappa=t["er_kappa"])
                for _ in cfgs]
    target = modules[0].probe_target
    rows: list[list[dict]] = [[] for _ in cfgs]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16-mixed")
    started = time.perf_counter()
    for step in range(t["max_steps"]):
        views, targets = [], []
        for cfg, source, batches, g in zip(cfgs, sources, first_batches, generators):
            g.manual_seed(step_seed(cfg["trainer"]["seed"], 0, step))
            v, y = source(next(batches), g)
            views.append(v)
            targets.append(y)
        views = [torch.stack([v[i] for v in views]) for i in range(len(views[0]))]
        y = torch.stack([tg[target] for tg in targets]) if stacked.probe is not None else None
        with autocast:
            losses, probe_losses, logits, z = stacked.losses(views, y)
        total = losses.sum() + (probe_losses.sum() if probe_losses is not None else 0)
        values = losses.detach().tolist()
        bad = [c["trainer"]["seed"] for c, v in zip(cfgs, values) if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(f"the {cfg0['method']['name']} loss of seed(s) {bad} is non-finite at step {step}: training "
                                     "stopped (several seeds in one model write no checkpoint). Lower optim.lr or "
                                     "use trainer.precision 32.")
        opt.zero_grad(set_to_none=True)
        total.backward()
        lr = o["lr"] * (replanned_lr(step, o["warmup_steps"], [t["max_steps"]]) if sched else 1.0)
        opt.step()
        # what the step's forward used, logged as a single run logs its method's logs (BYOL: train/momentum)
        step_logs = {"train/momentum": torch.tensor(stacked.method.momentum).item()} \
            if hasattr(stacked.method, "momentum") else {}
        if hasattr(stacked.method, "on_step_end"):  # EMA targets, after the update (as SSLModule.optimizer_step)
            stacked.method.on_step_end(step + 1, t["max_steps"])
        if sched is not None:
            sched.step()
        if (step + 1) % t["log_every"] == 0:
            accs = (((logits.argmax(-1) == y) & (y >= 0)).sum(1) / (y >= 0).sum(1).clamp(min=1)).tolist() \
                if stacked.probe is not None else [None] * k
            for i in range(k):
                row = {"epoch": step // epoch_steps, "step": step, "train/loss": values[i], "train/lr": lr,
                       "train/skipped_steps": 0.0, **step_logs}
                if accs[i] is not None:
                    row["train/probe_acc"] = accs[i]
                row.update({f"monitor/{name}": v for name, v in monitors[i].measure(
                    [e[i].detach() for e in z[:2]], step + 1, warn=True).items()})
                rows[i].append(row)
        if t["progress"] and (step + 1) % max(1, t["max_steps"] // 10) == 0:
            echo(f"step {step + 1}/{t['max_steps']}  loss " + " ".join(f"{v:.3f}" for v in values))
    seconds = time.perf_counter() - started
    for run_dir, seed_rows in zip(run_dirs, rows):
        if seed_rows:
            (run_dir / METRICS_FILE).parent.mkdir(parents=True, exist_ok=True)
            write_rows_atomic(run_dir / METRICS_FILE, sorted(seed_rows[0]), seed_rows)
    stacked.to("cpu").unstack_into(modules)
    return seconds, t["max_steps"]


def batchable(user_configs: list[dict]) -> str | None:
    """None when ``train_seeds`` takes these configs (one config at several seeds), else why not
    (the line it would refuse them with)."""
    try:
        _batchable_configs(user_configs)
    except (ConfigError, ValueError) as err:
        return str(err)
    return None


def train_seeds_quietly(user_configs: list[dict]) -> list[dict]:
    """``train_seeds`` without its printing; each seed's metrics (a module-level task for the
    study engine's worker pool)."""
    return [metrics for _, metrics in train_seeds(user_configs, echo=lambda *a, **k: None)]
