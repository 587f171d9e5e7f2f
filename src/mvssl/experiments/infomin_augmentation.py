"""InfoMin Aug (Tian et al. 2020, Sec. 4.2): I_NCE and accuracy along a ladder of augmentation;
the study is declared in ``infomin_augmentation.yaml`` beside this module
(docs/infomin_augmentation.md). Its digit measure and its I_NCE measure with a convergence
check (the critic's estimate at half its steps and at the end) are here."""
from __future__ import annotations

import hashlib
import json
import math
import statistics
from functools import lru_cache

import torch

from ..studies.experiment import command
from ..build import build_dataset, build_view_source, resolve
from ..data.array_cache import cache_dir
from ..eval.probes import cached_probe_frames
from ..nn.critic import TwoViewCritic, fit_critic
from .reverse_u import probe

COMMAND, HELP, add_arguments, run, study = command(__file__)


def digit_acc(run) -> float:
    """The study's measure: the digit linear probe (reverse_u's :func:`probe`) of the run's
    encoder or its random-init twin, on the probe frames of the run's data."""
    return probe(run.encoder, cached_probe_frames(json.dumps(run.config["data"], sort_keys=True)), ("digit",))["digit"]


def critic_curve(source, k: int, checkpoints, seed: int, lr: float = 2e-3, width: int = 8, embed_dim: int = 64,
                 temperature: float = 0.1, heldout_fraction: float = 0.2, eval_batches: int = 8) -> list[float]:
    """I_NCE = log k - held-out L_NCE of one fresh critic (``info.nce.estimate_nce``'s procedure,
    its split, batches and initialisation for ``seed``) read after each of ``checkpoints`` (increasing
    step counts). The last value is ``estimate_nce(source, k, steps=checkpoints[-1], seeds=[seed])``'s:
    the earlier reads draw their held-out batches from a generator of their own, so they do not
    change the critic's training. A critic has converged when its last reads agree within their noise."""
    checkpoints = [int(c) for c in checkpoints]
    if not checkpoints or checkpoints[0] < 1 or sorted(set(checkpoints)) != checkpoints:
        raise ValueError(f"checkpoints must be increasing step counts >= 1, got {checkpoints}")
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(source), generator=g)
    n_held = max(k, int(heldout_fraction * len(source)))
    held, train = order[:n_held], order[n_held:]
    if len(train) < k:
        raise ValueError(f"k={k} needs at least {k + n_held} items, the view source has {len(source)}")

    def batch(pool, gen):
        return source(pool[torch.randperm(len(pool), generator=gen)[:k]], gen)[0]

    def read(gen):
        critic.eval()
        with torch.no_grad():
            loss = statistics.fmean(float(critic.nce_loss(critic.encode(batch(held, gen)))) for _ in range(eval_batches))
        return math.log(k) - loss

    first = batch(train, g)
    torch.manual_seed(seed)
    critic = TwoViewCritic(width=width, proj_dim=embed_dim, temperature=temperature,
                           channels=(first[0].shape[1], first[1].shape[1]), head="linear")
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr)
    side = torch.Generator().manual_seed(10_000 + seed)
    done, out = 0, []
    for c in checkpoints:
        fit_critic(critic, lambda step: first if done + step == 0 else batch(train, g), c - done, optimizer)
        done = c
        out.append(read(g if c == checkpoints[-1] else side))
    return out


CURVE_VERSION = 1  # raise when critic_curve's procedure changes: the cached reads below are then not reused


@lru_cache(maxsize=8)
def _curve(run_dir: str, data: str, views: str, seed: int, k: int, steps: int, critic_seeds: int, lr: float):
    """(read at steps // 2, read at steps), averaged over the critic seeds. The critic sees only the
    views (never the run's encoder, nor its precision), so the reads are kept on disk under the
    cache folder (``data.array_cache.cache_dir()/i_nce``), named by a hash of everything they depend
    on, and another run of the same views (the fp32 twin of a bf16 study) reads them back."""
    key = json.dumps([CURVE_VERSION, torch.__version__, data, views, seed, k, steps, critic_seeds, lr])
    path = cache_dir() / "i_nce" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"
    if path.exists():
        return tuple(json.loads(path.read_text())["reads"])
    cfg = resolve({"data": json.loads(data), "views": json.loads(views)})
    source = build_view_source(cfg, build_dataset(cfg, "train"))
    curves = [critic_curve(source, k, [steps // 2, steps], s, lr) for s in range(seed, seed + critic_seeds)]
    reads = tuple(statistics.fmean(c[i] for c in curves) for i in range(2))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{id(reads)}")
    tmp.write_text(json.dumps({"key": json.loads(key), "reads": reads}))
    tmp.replace(path)
    return reads


def i_nce(run, k: int = 64, steps: int = 200, critic_seeds: int = 1, lr: float = 2e-3, read: str = "end",
          seeds_below: int | None = None) -> float | None:
    """I_NCE of the arm's view pair (fresh critics seeded from the run's seed, as the engine's
    ``i_nce``), ``read`` at the end of ``steps`` or its ``gain`` over the second half (end minus
    the read at steps // 2): the convergence check. None for the random-init twin, and for a run
    whose seed is not below ``seeds_below`` (I_NCE is a property of the views: a few critics suffice)."""
    if run.which != "trained" or (seeds_below is not None and run.seed >= seeds_below):
        return None
    end_half = _curve(str(run.run_dir), json.dumps(run.config["data"], sort_keys=True),
                      json.dumps(run.config["views"], sort_keys=True), run.seed, k, steps, critic_seeds, lr)
    return end_half[1] if read == "end" else end_half[1] - end_half[0]
