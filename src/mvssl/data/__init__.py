"""Datasets: Colorful-Moving-MNIST and the offline sources it draws from."""
from .colorful_mnist import FACTORS, ColorfulMovingMNIST, FrameFactors

__all__ = ["ColorfulMovingMNIST", "FrameFactors", "FACTORS"]
