import pytest
import torch


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def cmnist16():
    from mvssl.data import ColorfulMovingMNIST

    return ColorfulMovingMNIST(split="train", seed=0, image_size=16, digit_size=8)
