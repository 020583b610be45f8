"""Evaluation: observables, metrics, classifier tests and the HTML report, in layers.

- leaf (numpy, scipy, the geometry and shower files; no torch, scikit-learn or matplotlib):
  :mod:`~caloforge.evaluation.observables` (streamed per-shower observables, spectra, average
  images), :mod:`~caloforge.evaluation.metrics` (separation power, Wasserstein-1, FPD, KPD),
  :mod:`~caloforge.evaluation.response` (linearity and resolution versus energy),
  :mod:`~caloforge.evaluation.flagging` (the flag rule) and
  :mod:`~caloforge.evaluation.inputs` (what ``evaluate`` accepts);
- on top of the leaf: :mod:`~caloforge.evaluation.classifier` (PyTorch, scikit-learn) and
  :mod:`~caloforge.evaluation.plots` / :mod:`~caloforge.evaluation.report` (matplotlib);
- on top of everything: :func:`evaluate` (``caloforge evaluate``) in
  :mod:`~caloforge.evaluation.comparison`.

Importing this package loads none of its modules: each name below is imported from its module
on first access, so ``import caloforge.evaluation.metrics`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from caloforge.lazy import lazy_attributes

if TYPE_CHECKING:
    from caloforge.evaluation.classifier import ClassifierConfig, classifier_auc
    from caloforge.evaluation.comparison import evaluate
    from caloforge.evaluation.flagging import SEPARATION_THRESHOLD
    from caloforge.evaluation.metrics import (
        SmallSampleWarning,
        fpd,
        histogram_separation,
        kpd,
        separation_power,
        wasserstein,
    )
    from caloforge.evaluation.observables import (
        Observables,
        compute_observables,
        observable_specs,
    )
    from caloforge.evaluation.response import effective_sigma, energy_response

#: public name -> the module that defines it
_WHERE = {
    "SEPARATION_THRESHOLD": "flagging",
    "ClassifierConfig": "classifier",
    "Observables": "observables",
    "SmallSampleWarning": "metrics",
    "classifier_auc": "classifier",
    "compute_observables": "observables",
    "effective_sigma": "response",
    "energy_response": "response",
    "evaluate": "comparison",
    "fpd": "metrics",
    "histogram_separation": "metrics",
    "kpd": "metrics",
    "observable_specs": "observables",
    "separation_power": "metrics",
    "wasserstein": "metrics",
}

__all__ = [
    "SEPARATION_THRESHOLD",
    "ClassifierConfig",
    "Observables",
    "SmallSampleWarning",
    "classifier_auc",
    "compute_observables",
    "effective_sigma",
    "energy_response",
    "evaluate",
    "fpd",
    "histogram_separation",
    "kpd",
    "observable_specs",
    "separation_power",
    "wasserstein",
]


__getattr__ = lazy_attributes(__name__, {k: f".{v}" for k, v in _WHERE.items()})


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
