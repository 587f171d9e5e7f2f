"""Fine-tuning: the whole backbone (a copy) with a linear head on labelled images, against the frozen
linear probe and the same architecture trained from scratch (``scratch``: seeded, the backbone at the
head's rate) for the same steps. Protocol in docs/evaluation.md: a seeded 80/20 split picks the step,
AdamW with warm-up and cosine decay, the backbone at ``lr * backbone_lr_scale`` (pretrained features
move slower than a new head; ``layer_decay`` slows earlier blocks more), the best held-out step tested
once; images through ``Encoder.preprocess``, flipped only with ``flip`` (digits are not mirror-symmetric)."""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..data.splits import validation_split
from ..nn.ema import warmup_cosine

BATCH = 128
EVALS = 10  # held-out scores per run


def backbone_blocks(backbone: nn.Module) -> list[list[nn.Parameter]]:
    """The backbone's parameters grouped in order from input to output: one group per top-level
    child (a ConvNet's layers, a ResNet's stem and stages, a ViT's embedding, blocks, norm)."""
    blocks = []
    for child in backbone.children():
        params = [p for p in child.parameters() if p.requires_grad]
        if isinstance(child, (nn.Sequential, nn.ModuleList, nn.TransformerEncoder)):  # one group per layer inside
            inner = child.layers if isinstance(child, nn.TransformerEncoder) else child
            blocks += [[p for p in m.parameters() if p.requires_grad] for m in inner]
        elif params:
            blocks.append(params)
    own = [p for name, p in backbone.named_parameters(recurse=False) if p.requires_grad]  # ViT class token, positions
    blocks = [own] + blocks if own else blocks
    return [b for b in blocks if b]


def parameter_groups(backbone: nn.Module, head: nn.Module, lr: float, backbone_lr_scale: float,
                     layer_decay: float, weight_decay: float) -> list[dict]:
    blocks = backbone_blocks(backbone)
    groups = [{"params": head.parameters(), "lr": lr, "weight_decay": weight_decay}]
    for depth, params in enumerate(blocks):  # the last block gets layer_decay ** 0
        scale = backbone_lr_scale * layer_decay ** (len(blocks) - 1 - depth)
        groups.append({"params": params, "lr": lr * scale, "weight_decay": weight_decay})
    return groups


@torch.no_grad()
def accuracy(network: nn.Module, preprocess, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    network.eval()
    correct = sum(int((network(preprocess(x[i:i + batch])).argmax(1) == y[i:i + batch]).sum())
                  for i in range(0, len(x), batch))
    return correct / max(1, len(x))


def finetune(backbone: nn.Module, dim: int, num_classes: int, preprocess, train_x: torch.Tensor,
             train_y: torch.Tensor, test_x: torch.Tensor, test_y: torch.Tensor, steps: int = 300, lr: float = 1e-3,
             backbone_lr_scale: float = 0.1, layer_decay: float = 1.0, weight_decay: float = 1e-4,
             batch_size: int = BATCH, flip: bool = False, seed: int = 0, device: torch.device | str = "cpu",
             keep_network: bool = False) -> dict:
    """Train ``backbone`` (a copy) + a linear head on uint8 images ``train_x`` [N, C, H, W], each
    batch turned into the backbone's input by ``preprocess`` (``Encoder.preprocess``); returns the
    held-out and test top-1 of the best held-out step (and, with ``keep_network``, the network
    with that step's weights)."""
    torch.manual_seed(seed)
    network = nn.Sequential(copy.deepcopy(backbone), nn.Linear(dim, num_classes)).to(device)
    train_y, test_y = train_y.to(device), test_y.to(device)
    fit, held_out = validation_split(len(train_x), train_y, 0.2, seed)
    opt = torch.optim.AdamW(parameter_groups(network[0], network[1], lr, backbone_lr_scale, layer_decay,
                                             weight_decay))
    base = [g["lr"] for g in opt.param_groups]
    g = torch.Generator().manual_seed(seed)
    every = max(1, steps // EVALS)
    best = {"val_top1": -1.0, "step": 0, "state": copy.deepcopy(network.state_dict())}
    for step in range(steps):
        network.train()
        idx = fit[torch.randint(len(fit), (min(batch_size, len(fit)),), generator=g)]
        x = preprocess(train_x[idx])
        if flip:
            mirrored = (torch.rand(len(x), generator=g) < 0.5).to(x.device)
            x = torch.where(mirrored[:, None, None, None], x.flip(-1), x)
        for group, lr0 in zip(opt.param_groups, base):
            group["lr"] = lr0 * warmup_cosine(step, max(1, steps // 10), steps)
        loss = F.cross_entropy(network(x), train_y[idx.to(train_y.device)])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % every == 0 or step + 1 == steps:
            score = accuracy(network, preprocess, train_x[held_out], train_y[held_out])
            if score > best["val_top1"]:
                best = {"val_top1": score, "step": step + 1, "state": copy.deepcopy(network.state_dict())}
    network.load_state_dict(best["state"])
    return {**({"network": network} if keep_network else {}),
            "top1": accuracy(network, preprocess, test_x, test_y), "val_top1": best["val_top1"], "best_step": best["step"],
            "steps": steps, "lr": lr, "backbone_lr_scale": backbone_lr_scale, "layer_decay": layer_decay,
            "num_fit": len(fit), "num_held_out": len(held_out), "seed": seed}
