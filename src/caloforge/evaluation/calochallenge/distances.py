"""FPD and KPD (arXiv:2211.10295) on the challenge's high-level inputs, as the challenge runs them.

The challenge calls jetnet's ``fpd(reference, candidate, min_samples=10000)`` and
``kpd(reference, candidate, batch_size=10000)`` with its other defaults; this module computes the
same quantities from their definitions:

- both samples are divided, feature by feature, by the reference's maximum absolute value
  (features that are 0 everywhere are left alone);
- **FPD**: for ``n_points`` batch sizes ``N`` spaced regularly in ``1/N`` between
  ``1/min_samples`` and ``1/max_samples``, the Fréchet distance of Gaussians fitted to
  ``n_batches`` pairs of batches drawn with replacement is averaged; ``FD(N) = FPD + c / N`` is
  fitted with ``FPD, c >= 0`` and the intercept and its standard error are returned;
- **KPD**: for ``n_batches`` batches of ``batch_size`` drawn with replacement (batch ``i`` from a
  generator seeded ``seed + 1000 i``), the unbiased MMD^2 with the polynomial kernel
  ``(x.y / d + 1)^4``; the median and half the 16.275-83.725 % inter-quantile range.

Published values are quoted times 1e3.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import curve_fit

from caloforge.evaluation.metrics import frechet_distance

__all__ = ["challenge_fpd", "challenge_kpd", "normalise_by_reference_max"]


def normalise_by_reference_max(
    reference: np.ndarray, candidate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Both (N, d) samples divided per feature by max |reference| (1 where that is 0)."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(candidate, dtype=np.float64)
    scale = np.max(np.abs(x), axis=0)
    scale[scale == 0] = 1.0
    return x / scale, y / scale


def _check(x: np.ndarray, y: np.ndarray, name: str) -> None:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        msg = f"{name}: expected two (N, d) samples with the same d and N >= 2; got {x.shape}, {y.shape}"
        raise ValueError(msg)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        msg = f"{name}: a sample holds NaN or infinite features"
        raise ValueError(msg)


def challenge_fpd(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    min_samples: int = 10_000,
    max_samples: int = 50_000,
    n_batches: int = 20,
    n_points: int = 10,
    seed: int = 42,
) -> tuple[float, float]:
    """FPD and its error (see module); the challenge's settings by default."""
    x, y = normalise_by_reference_max(reference, candidate)
    _check(x, y, "FPD")
    sizes = (1.0 / np.linspace(1.0 / min_samples, 1.0 / max_samples, n_points)).astype(np.int32)
    rng = np.random.default_rng(seed)
    means = []
    for n in sizes:
        vals = []
        for _ in range(n_batches):
            xs = x[rng.choice(len(x), size=int(n))]
            ys = y[rng.choice(len(y), size=int(n))]
            vals.append(
                frechet_distance(
                    xs.mean(0), np.cov(xs, rowvar=False), ys.mean(0), np.cov(ys, rowvar=False)
                )
            )
        means.append(float(np.mean(vals)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # covariance of a perfect fit
        params, cov = curve_fit(
            lambda inv_n, a, b: a + b * inv_n,
            1.0 / sizes,
            np.asarray(means),
            bounds=([0.0, 0.0], [np.inf, np.inf]),
        )
    return float(params[0]), float(np.sqrt(max(cov[0, 0], 0.0)))


def _kernel_sum(a: np.ndarray, b: np.ndarray, d: int, block: int = 2048) -> float:
    """Sum of ``(a.b / d + 1)^4`` over all pairs, in blocks (memory ~ block x len(b))."""
    total = 0.0
    for i in range(0, len(a), block):
        k = a[i : i + block] @ b.T
        k /= d
        k += 1.0
        k *= k
        k *= k
        total += float(k.sum())
    return total


def _mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d, m, n = x.shape[1], len(x), len(y)
    diag_x = float((((x * x).sum(1) / d + 1.0) ** 4).sum())
    diag_y = float((((y * y).sum(1) / d + 1.0) ** 4).sum())
    xx = (_kernel_sum(x, x, d) - diag_x) / (m * (m - 1))
    yy = (_kernel_sum(y, y, d) - diag_y) / (n * (n - 1))
    return xx + yy - 2.0 * _kernel_sum(x, y, d) / (m * n)


def challenge_kpd(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    batch_size: int = 10_000,
    n_batches: int = 10,
    seed: int = 42,
) -> tuple[float, float]:
    """KPD and its error (see module); the challenge's settings by default."""
    x, y = normalise_by_reference_max(reference, candidate)
    _check(x, y, "KPD")
    vals = []
    for i in range(n_batches):
        rng = np.random.default_rng(seed + i * 1000)
        xs = x[rng.choice(len(x), size=batch_size)]
        ys = y[rng.choice(len(y), size=batch_size)]
        vals.append(_mmd2(xs, ys))
    lo, hi = np.percentile(vals, [16.275, 83.725])
    return float(np.median(vals)), float((hi - lo) / 2.0)
