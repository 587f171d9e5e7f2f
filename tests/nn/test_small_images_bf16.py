"""``smallest_bf16_cpu_side``: the side below which a 3x3 stride-2 convolution of a backbone
meets a 1x1 feature map (where a CPU's bf16 weight gradient is garbage), checked against the
feature maps each backbone really produces; and the run refused before a folder exists."""
import pytest
import torch
from torch import nn

from mvssl.build import resolve
from mvssl.config import ConfigError
from mvssl.nn.backbones import build_backbone, smallest_bf16_cpu_side
from mvssl.train.preflight import check_machine


def meets_one_pixel(name: str, cifar_stem: bool, side: int) -> bool:
    """Whether a forward pass of ``side``-px images puts a 3x3 stride-2 convolution on a 1x1 map."""
    net, _ = build_backbone(name, 4, cifar_stem)
    seen = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and m.stride[0] > 1 and m.kernel_size[0] > 1:
            m.register_forward_pre_hook(lambda mod, args: seen.append(tuple(args[0].shape[-2:])))
    with torch.no_grad():
        net.eval()(torch.zeros(1, 3, side, side))
    return (1, 1) in seen


@pytest.mark.parametrize("name, cifar_stem", [("convnet", True), ("resnet18", True), ("resnet18", False),
                                              ("resnet50", False)])
def test_the_smallest_side_is_where_no_strided_convolution_meets_a_single_pixel(name, cifar_stem):
    need = smallest_bf16_cpu_side(name, cifar_stem)
    assert need > 1
    assert meets_one_pixel(name, cifar_stem, need - 1)
    assert not any(meets_one_pixel(name, cifar_stem, side) for side in (need, need + 1, 2 * need))


def config(over=None):
    user = {"backbone": {"name": "resnet18", "cifar_stem": False}, "data": {"image_size": 16},
            "trainer": {"precision": "bf16-mixed", "accelerator": "cpu"}}
    for (section, key), value in (over or {}).items():
        user.setdefault(section, {})[key] = value
    return resolve(user)


def test_bf16_on_a_cpu_with_views_that_shrink_to_one_pixel_is_refused_naming_the_keys():
    with pytest.raises(ConfigError, match=r"trainer.precision bf16-mixed: resnet18 shrinks data.image_size 16 px "
                                          r".*--trainer.precision 32 or --backbone.cifar_stem true, or views of 17"):
        check_machine(config())
    with pytest.raises(ConfigError, match="views.local_size 14 px"):  # DINO's local crops of 32-px images
        check_machine(config({("method", "name"): "dino", ("views", "name"): "multicrop",
                                ("data", "image_size"): 32}))
    for fine in ({("trainer", "precision"): "32"}, {("data", "image_size"): 17},
                 {("backbone", "cifar_stem"): True}):
        check_machine(config(fine))
