"""Evaluation of frozen encoders: linear probes, kNN, few-shot episodes, robustness to
corruptions, factor probes and embedding maps (see docs/evaluation.md)."""
from .corruptions import CORRUPTIONS, corrupt
from .fewshot import fewshot_eval
from .knn import knn_accuracy, knn_classify
from .linear import LinearClassifier, fit_linear_classifier, linear_probe, ridge_probe
from .probes import factor_probes, format_table, probe_frames
from .robustness import corruption_errors, mean_corruption_error

__all__ = ["CORRUPTIONS", "corrupt", "fewshot_eval", "knn_accuracy", "knn_classify", "LinearClassifier",
           "fit_linear_classifier", "linear_probe", "ridge_probe", "factor_probes", "format_table", "probe_frames",
           "corruption_errors", "mean_corruption_error"]
