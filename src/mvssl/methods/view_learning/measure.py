"""What a view-learning row reads off the frozen views: the I_NCE bound of a critic on held-out
images (the adversary's, or a fresh critic's the generator never saw) and the features a
linear probe reads."""
from __future__ import annotations

import torch
from torch import nn

from ...nn.critic import TwoViewCritic, fit_critic
from ...views.generator import ViewGenerator
from ...views.sources import LabelledPool
from .players import module_device, nce_bound


@torch.no_grad()
def embed(generator: ViewGenerator, critic: TwoViewCritic, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    """Frozen concatenated features of uint8 images [N, 3, H, W]."""
    critic.eval()
    device = module_device(critic)
    return torch.cat([critic.features(generator.views(images[i:i + batch].to(device).float() / 255)).cpu()
                      for i in range(0, len(images), batch)])


def fresh_critic_bound(generator: ViewGenerator, data: LabelledPool, images: torch.Tensor, critic_kw: dict,
                       steps: int, seed: int, batch_size: int = 128, eval_batch: int = 1000) -> tuple[float, TwoViewCritic]:
    """I_NCE of the frozen views of ``generator`` measured by a critic trained from scratch
    (initialisation and batches from ``seed``) for ``steps`` contrastive steps, on held-out
    ``images``. Unlike the adversarial critic's bound, a generator cannot have fooled this
    critic: it never saw it (Adam at 1e-3, the game's critic settings). Returns the bound and the critic."""
    torch.manual_seed(seed)
    critic = TwoViewCritic(**critic_kw).to(module_device(generator))
    g = torch.Generator().manual_seed(seed)

    def next_views(step: int) -> list[torch.Tensor]:
        with torch.no_grad():
            return generator.views(data.unlabelled(batch_size, g))

    fit_critic(critic, next_views, steps, torch.optim.Adam(critic.parameters(), lr=1e-3, weight_decay=1e-5))
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
def refresh_batch_norm(generator: ViewGenerator, critic: TwoViewCritic, data: LabelledPool, batch_size: int = 128,
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
