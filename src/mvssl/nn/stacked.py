"""K copies of one small network trained side by side as one wider network (several seeds in one
model, ``train/seeds.py``; docs/performance.md says how each layer stacks). Nothing mixes the
seeds: the output of seed k depends only on seed k's input and weights, so the gradient of the
sum of the K losses is, for each seed's weights, that seed's own gradient.

Tensors are laid out so that each stacked tensor is the K seeds' tensors of the same name either
concatenated along dim 0 (convolution kernels, BN affine weights and running statistics: ``cat``)
or stacked along a new dim 0 (linear weights and biases: ``stack``); BN's step counter is shared.
``stack_state`` and ``seed_state`` move whole state dicts between the K single networks and the
stacked one by that rule, so a seed's weights go in and come out bitwise.

Inputs and outputs carry the seeds first: ``[K, N, ...]``."""
from __future__ import annotations

import torch
from torch import nn

from .backbones import ConvNet, convnet_convs


class StackedConvNet(nn.Module):
    """K ``ConvNet(width, in_channels)`` in one: ``[K, N, C, H, W] -> [K, N, 8 * width]``."""

    def __init__(self, k: int, width: int, in_channels: int = 3):
        super().__init__()
        self.k = k
        layers: list[nn.Module] = []
        for cin, cout, stride in convnet_convs(width, in_channels):  # ConvNet.features' indices: the keys match
            layers += [nn.Conv2d(k * cin, k * cout, 3, stride, 1, bias=False, groups=k), nn.BatchNorm2d(k * cout),
                       nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = 8 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n = x.shape[:2]
        # seed k's channels are the k-th group: [N, K*C, H, W]
        wide = x.transpose(0, 1).reshape(n, k * x.shape[2], *x.shape[3:])
        if self.features[0].weight.is_contiguous(memory_format=torch.channels_last):  # trainer.channels_last
            wide = wide.contiguous(memory_format=torch.channels_last)
        return self.pool(self.features(wide)).reshape(n, k, -1).transpose(0, 1)


class StackedLinear(nn.Module):
    """K ``nn.Linear(d_in, d_out)``: ``[K, N, d_in] -> [K, N, d_out]``; ``weight`` [K, d_out, d_in]."""

    def __init__(self, k: int, d_in: int, d_out: int, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, d_out, d_in))
        self.bias = nn.Parameter(torch.empty(k, d_out)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.transpose(1, 2)
        return torch.bmm(x, w) if self.bias is None else torch.baddbmm(self.bias.unsqueeze(1), x, w)


class StackedBatchNorm1d(nn.BatchNorm1d):
    """K ``nn.BatchNorm1d(d)`` as one over K x d features: ``[K, N, d] -> [K, N, d]``."""

    def __init__(self, k: int, d: int, **kwargs):
        super().__init__(k * d, **kwargs)
        self.k = k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, n, d = x.shape
        return super().forward(x.transpose(0, 1).reshape(n, k * d)).reshape(n, k, d).transpose(0, 1)


def stacked_like(module: nn.Module, k: int) -> nn.Module:
    """The K-wide counterpart of ``module`` (a ConvNet, a linear layer, 1-D BatchNorm, ReLU,
    Identity or a Sequential of those), with the same state-dict keys; weights to be loaded by
    ``stack_state``. Anything else: ``ValueError`` naming it."""
    if isinstance(module, ConvNet):
        first = module.features[0]
        return StackedConvNet(k, first.out_channels, first.in_channels)
    if isinstance(module, nn.Linear):
        return StackedLinear(k, module.in_features, module.out_features, module.bias is not None)
    if isinstance(module, nn.BatchNorm1d):
        return StackedBatchNorm1d(k, module.num_features, eps=module.eps, momentum=module.momentum,
                                  affine=module.affine, track_running_stats=module.track_running_stats)
    if isinstance(module, (nn.ReLU, nn.Identity)):
        return type(module)(**({"inplace": module.inplace} if isinstance(module, nn.ReLU) else {}))
    if isinstance(module, nn.Sequential):
        return nn.Sequential(*[stacked_like(m, k) for m in module])
    raise ValueError(f"{type(module).__name__} has no stacked form (several seeds in one model take the convnet "
                     "backbone and Linear/BatchNorm1d/ReLU heads)")


def _rule(stacked: torch.Tensor, single: torch.Tensor, k: int, key: str) -> str:
    if stacked.ndim == single.ndim + 1 and stacked.shape == (k, *single.shape):
        return "stack"
    if stacked.ndim == single.ndim and single.ndim > 0 and stacked.shape == (k * single.shape[0], *single.shape[1:]):
        return "cat"
    if stacked.shape == single.shape:
        return "shared"
    raise ValueError(f"{key}: a stacked tensor of shape {tuple(stacked.shape)} does not hold {k} of "
                     f"{tuple(single.shape)}")


def stack_state(stacked: nn.Module, singles: list[dict[str, torch.Tensor]]) -> None:
    """Load the K single networks' state dicts (same keys) into ``stacked``, in place."""
    own = stacked.state_dict()
    k = len(singles)
    if set(own) != set(singles[0]):
        raise ValueError(f"the stacked network's keys differ from the single one's: "
                         f"{sorted(set(own) ^ set(singles[0]))[:4]}")
    merged = {}
    for key, target in own.items():
        parts = [s[key] for s in singles]
        rule = _rule(target, parts[0], k, key)
        if rule == "shared":
            if any(not torch.equal(p, parts[0]) for p in parts[1:]):
                raise ValueError(f"{key}: one tensor for all seeds, but the seeds' values differ")
            merged[key] = parts[0]
        else:
            merged[key] = torch.stack(parts) if rule == "stack" else torch.cat(parts)
    stacked.load_state_dict(merged)


def seed_slice(stacked: torch.Tensor, single_shape: torch.Size, k: int, seed: int, key: str = "") -> torch.Tensor:
    """Seed ``seed``'s part of a stacked tensor whose single counterpart has ``single_shape``."""
    rule = _rule(stacked, torch.empty(single_shape, device="meta"), k, key)
    if rule == "stack":
        return stacked[seed]
    if rule == "cat":
        n = single_shape[0]
        return stacked[seed * n:(seed + 1) * n]
    return stacked


def seed_state(stacked: nn.Module, single: nn.Module, k: int, seed: int) -> dict[str, torch.Tensor]:
    """Seed ``seed``'s state dict for the single network ``single`` (copies, on the stacked one's device)."""
    own = single.state_dict()
    return {key: seed_slice(t, own[key].shape, k, seed, key).detach().clone()
            for key, t in stacked.state_dict().items()}
