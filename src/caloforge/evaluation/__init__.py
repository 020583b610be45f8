"""Evaluation: observables, metrics, classifier tests and the HTML report (DESIGN.md section 6).

Entry point: :func:`evaluate` (``caloforge evaluate``). Building blocks:
:func:`compute_observables` (streamed per-shower observables, spectra, average images),
the metrics of :mod:`caloforge.evaluation.metrics` (separation power, Wasserstein-1, FPD, KPD)
and :func:`classifier_auc`.
"""

from caloforge.evaluation.classifier import ClassifierConfig, classifier_auc
from caloforge.evaluation.comparison import SEPARATION_THRESHOLD, evaluate
from caloforge.evaluation.metrics import (
    SmallSampleWarning,
    fpd,
    histogram_separation,
    kpd,
    separation_power,
    wasserstein,
)
from caloforge.evaluation.observables import Observables, compute_observables, observable_specs
from caloforge.evaluation.response import effective_sigma

__all__ = [
    "SEPARATION_THRESHOLD",
    "ClassifierConfig",
    "Observables",
    "SmallSampleWarning",
    "classifier_auc",
    "compute_observables",
    "effective_sigma",
    "evaluate",
    "fpd",
    "histogram_separation",
    "kpd",
    "observable_specs",
    "separation_power",
    "wasserstein",
]
