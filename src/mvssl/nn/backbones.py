"""Backbones: torchvision ResNets (with the small-image "CIFAR" stem), a small
convolutional network with a width knob for fast CPU runs, small-image ViTs, and any timm
model (``timm:NAME``, optional). Each returns pooled features [N, D]; ``build_backbone``
also returns D."""
from __future__ import annotations

import torch
from torch import nn

from .vit import VIT_SIZES, ViT


def convnet_convs(width: int, in_channels: int = 3) -> list[tuple[int, int, int]]:
    """(in channels, out channels, stride) of the ConvNet's eight 3x3 convolutions, in order."""
    convs, cin = [], in_channels
    for i, w in enumerate([width, 2 * width, 4 * width, 8 * width]):
        convs += [(cin, w, 1 if i == 0 else 2), (w, w, 1)]
        cin = w
    return convs


class ConvNet(nn.Module):
    """Four stages of two 3x3 conv-BN-ReLU layers, widths w, 2w, 4w, 8w, downsampling by
    stride 2 at the start of stages 2-4, then global average pooling (D = 8w)."""

    def __init__(self, width: int = 32, in_channels: int = 3):
        super().__init__()
        self.features = nn.Sequential(*[m for cin, cout, stride in convnet_convs(width, in_channels) for m in (
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = 8 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def torchvision_resnet(name: str, cifar_stem: bool, in_channels: int = 3) -> tuple[nn.Module, int]:
    import torchvision

    net = getattr(torchvision.models, name)(weights=None)
    if cifar_stem:  # 3x3 stride-1 first conv and no max-pool, for 32-96 px images
        net.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    dim = net.fc.in_features
    net.fc = nn.Identity()
    return net, dim


def smallest_bf16_cpu_side(name: str, cifar_stem: bool) -> int:
    """The smallest image side at which no 3x3 stride-2 convolution of backbone ``name`` meets a 1x1 feature
    map (1: none does, or not known: ViTs, ``timm:``). There, the bf16 weight gradient on a CPU (oneDNN,
    torch 2.14) holds uninitialised memory for the padding-only taps instead of zeros. Each stride-2 stage
    halves the side rounding up: the ImageNet stem puts layer4's first convolution on 1x1 up to 16 px; the
    CIFAR stem and the ConvNet up to 4 px."""
    if name == "convnet" or (name.startswith("resnet") and cifar_stem):
        return 5
    return 17 if name.startswith("resnet") else 1


BACKBONES = ("convnet", "resnet18", "resnet34", "resnet50", "vit-tiny", "vit-small", "vit-mini")  # and timm:NAME
TIMM_PREFIX = "timm:"


def check_timm_model(name: str):
    """The ``timm`` module, once it is known to be installed and to have model ``name``."""
    try:
        import timm
    except ImportError:
        raise ValueError(f"backbone.name {TIMM_PREFIX}{name}: timm is not installed; "
                         "pip install 'mvssl[timm]'") from None
    if name not in timm.list_models():
        raise ValueError(f"backbone.name {TIMM_PREFIX}{name}: timm has no model {name!r} (see timm.list_models())")
    return timm


def timm_backbone(name: str, in_channels: int = 3) -> tuple[nn.Module, int]:
    """``timm.create_model(name)`` without its classifier, randomly initialised (nothing is
    downloaded), and its feature dimension. Needs the optional ``timm`` extra."""
    net = check_timm_model(name).create_model(name, pretrained=False, num_classes=0, in_chans=in_channels)
    return net, net.num_features


def build_backbone(name: str = "convnet", width: int = 32, cifar_stem: bool = True,
                   in_channels: int = 3, patch_size: int = 4, pool: str = "cls") -> tuple[nn.Module, int]:
    """Make a backbone by name; returns (module, feature dimension). ``width`` applies to the
    ConvNet, ``cifar_stem`` to the ResNets, ``patch_size`` and ``pool`` (the ViT's read-out:
    class token or mean of the patch tokens) to the ViTs."""
    if name == "convnet":
        net = ConvNet(width, in_channels)
        return net, net.out_dim
    if name in VIT_SIZES:
        net = ViT(*VIT_SIZES[name], patch_size=patch_size, in_channels=in_channels, pool=pool)
        return net, net.out_dim
    if name.startswith(TIMM_PREFIX):
        return timm_backbone(name[len(TIMM_PREFIX):], in_channels)
    if name in BACKBONES:
        return torchvision_resnet(name, cifar_stem, in_channels)
    raise ValueError(f"unknown backbone {name!r}; choose from {list(BACKBONES)} or {TIMM_PREFIX}NAME")


def spatial_features(backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a backbone computes per location, before it pools: a ViT's normalised patch tokens
    [N, L, D] (row-major, class token left out), a ConvNet's or ResNet's last feature map
    [N, C, h, w], a timm model's ``forward_features`` (a ViT's prefix tokens left out)."""
    if isinstance(backbone, ViT):
        return backbone.tokens(x)[:, 1:]
    if isinstance(backbone, ConvNet):
        return backbone.features(x)
    if all(hasattr(backbone, n) for n in ("conv1", "bn1", "maxpool", "layer1", "layer4")):  # torchvision ResNet
        x = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
        return backbone.layer4(backbone.layer3(backbone.layer2(backbone.layer1(x))))
    if hasattr(backbone, "forward_features"):  # timm
        out = backbone.forward_features(x)
        return out[:, getattr(backbone, "num_prefix_tokens", 0):] if out.ndim == 3 else out
    raise ValueError(f"tokens=True: mvssl does not know where the spatial features of a {type(backbone).__name__} "
                     "are (ViT, ConvNet, torchvision ResNet and timm models are supported)")
