"""Evaluation of frozen encoders: linear probes, kNN, few-shot episodes, robustness to
corruptions, factor probes and embedding maps (see docs/evaluation.md). The names below are
imported on first use, so ``mvssl.eval.options`` (what ``mvssl eval --help`` shows) loads no
torch."""
import importlib

_WHERE = {"CORRUPTIONS": "corruptions", "corrupt": "corruptions", "fewshot_eval": "fewshot",
          "knn_accuracy": "knn", "knn_classify": "knn", "LinearClassifier": "linear",
          "fit_linear_classifier": "linear", "linear_probe": "linear", "ridge_probe": "linear",
          "factor_probes": "probes", "format_table": "probes", "probe_frames": "probes",
          "corruption_errors": "robustness", "mean_corruption_error": "robustness"}

__all__ = list(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'mvssl.eval' has no attribute {name!r}")
