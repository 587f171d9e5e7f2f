"""Datasets: Colorful-Moving-MNIST and the offline sources it draws from."""
import importlib

__all__ = ["ColorfulMovingMNIST", "FrameFactors", "FACTORS"]


def __getattr__(name: str):  # on first use: ``mvssl data --help`` imports this package, and no torch
    if name in __all__:
        return getattr(importlib.import_module(".colorful_mnist", __name__), name)
    raise AttributeError(f"module 'mvssl.data' has no attribute {name!r}")
