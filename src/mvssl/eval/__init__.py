"""Evaluation of frozen encoders: linear probes, kNN, factor probes."""
from .knn import knn_accuracy, knn_classify
from .linear import linear_probe, ridge_probe
from .probes import factor_probes, format_table, probe_frames

__all__ = ["knn_accuracy", "knn_classify", "linear_probe", "ridge_probe", "factor_probes", "format_table",
           "probe_frames"]
