"""The rule that flags an observable as mismodelled (a leaf: numpy-free, used by the comparison
and the report).

An observable is *flagged* when its separation power ``S`` exceeds the finite-sample floor of
two samples of one distribution (:func:`~caloforge.evaluation.metrics.separation_floor`) by
more than :data:`SEPARATION_THRESHOLD` and by more than three bootstrap standard errors, so
that small samples (e.g. one configuration's share) do not flag noise.
"""

from __future__ import annotations

__all__ = ["SEPARATION_THRESHOLD", "is_flagged"]

#: excess separation power (above the finite-sample floor) at which an observable is flagged.
#: Two independent samples of 5000 showers with 40 bins give about 0.004 (the floor); a 5%
#: energy-scale error or a one-strip shift gives 0.05-0.5 on the observables it affects
#: (tests/test_evaluation_compare.py).
SEPARATION_THRESHOLD = 0.02


def is_flagged(separation: float, error: float, floor: float) -> bool:
    """The flag rule: ``S - floor > max(SEPARATION_THRESHOLD, 3 error)`` (all dimensionless)."""
    return bool(separation - floor > max(SEPARATION_THRESHOLD, 3.0 * error))
