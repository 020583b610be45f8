"""Classifier two-sample test: can a network tell the candidate from the reference?

:func:`classifier_auc` trains a small fully connected network (PyTorch, CPU) to label reference
showers 0 and candidate showers 1, and returns the area under the ROC curve on a held-out test
split with its Hanley-McNeil (1982) standard error. AUC 0.5: indistinguishable; 1.0: trivially
separable. Protocol (all seeded by ``seed``, the caller's global RNG state untouched):

1. both samples are cut to the same size (at most ``max_per_class`` each) and split
   train / validation / test (``ClassifierConfig.split``, default 50/25/25);
2. every feature is clipped to the range it spans in the training split, then standardised
   with the training split's mean and width. Without the clip a feature that is almost always
   zero (an outer cell) has a width of a few training values, and a held-out shower with a
   deposit there reached 1e17 standard deviations: the test scores were set by cells the
   network never learnt, and a 3D GAN against its cascade reference scored AUC 0.07 (the
   cascade has more such stray deposits); clipped, 1.00 (``tests/test_evaluation_classifier.py``);
3. an MLP (``hidden`` layers, LeakyReLU, dropout) is trained with Adam on the binary
   cross-entropy; after each epoch the validation loss is measured and the best state is kept;
   training stops after ``patience`` epochs without improvement or ``max_epochs``;
4. the AUC of the best state is measured on the test split, which training never saw.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from caloforge.evaluation.metrics import SmallSampleWarning
from caloforge.progress import StageProgress

__all__ = ["ClassifierConfig", "classifier_auc", "hanley_mcneil_error"]

#: below this many test showers per class the AUC error exceeds ~0.03 and a warning is issued
MIN_TEST_PER_CLASS = 500


@dataclass(frozen=True)
class ClassifierConfig:
    """Network and training settings of :func:`classifier_auc` (defaults defined once here)."""

    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.1
    learning_rate: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 40
    patience: int = 5
    split: tuple[float, float, float] = (0.5, 0.25, 0.25)
    max_per_class: int = 50_000
    #: torch intra-op threads during training (restored afterwards); 1 is fastest for this
    #: small network on a shared machine (10x faster than 2 contended threads, measured)
    threads: int = 1

    def __post_init__(self) -> None:
        if len(self.split) != 3 or abs(sum(self.split) - 1.0) > 1e-9 or min(self.split) <= 0:
            msg = f"ClassifierConfig.split must be three positive fractions summing to 1, got {self.split}"
            raise ValueError(msg)


def hanley_mcneil_error(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC (Hanley & McNeil, Radiology 143 (1982) 29)."""
    q1, q2 = auc / (2.0 - auc), 2.0 * auc**2 / (1.0 + auc)
    var = (auc * (1.0 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (
        n_pos * n_neg
    )
    return float(math.sqrt(max(var, 0.0)))


def _network(n_in: int, config: ClassifierConfig) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for h in config.hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.2), nn.Dropout(config.dropout)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def _split(n: int, fractions: tuple[float, float, float], rng: np.random.Generator) -> list:
    order = rng.permutation(n)
    n_train = round(fractions[0] * n)
    n_val = round(fractions[1] * n)
    return [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]


def _train_moments(x: np.ndarray, rows: np.ndarray, block: int = 4096) -> tuple:
    """Mean and width of ``x[rows]`` accumulated in blocks (no copy of the training split)."""
    total = np.zeros(x.shape[1])
    square = np.zeros(x.shape[1])
    for i in range(0, len(rows), block):
        part = x[rows[i : i + block]].astype(np.float64)
        total += part.sum(axis=0)
        square += (part * part).sum(axis=0)
    mean = total / max(len(rows), 1)
    var = np.clip(square / max(len(rows), 1) - mean**2, 0.0, None)
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def _train_range(x: np.ndarray, rows: np.ndarray, block: int = 4096) -> tuple:
    """Per-feature minimum and maximum of ``x[rows]`` (in blocks, no copy)."""
    lo = np.full(x.shape[1], np.inf, dtype=x.dtype)
    hi = np.full(x.shape[1], -np.inf, dtype=x.dtype)
    for i in range(0, len(rows), block):
        part = x[rows[i : i + block]]
        np.minimum(lo, part.min(axis=0), out=lo)
        np.maximum(hi, part.max(axis=0), out=hi)
    return lo, hi


def _logits(net: nn.Module, x: torch.Tensor, batch: int = 8192) -> torch.Tensor:
    net.eval()
    with torch.no_grad():
        return torch.cat([net(x[i : i + batch]).squeeze(1) for i in range(0, len(x), batch)])


def classifier_auc(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    seed: int = 0,
    config: ClassifierConfig | None = None,
    progress: bool = False,
    description: str = "classifier",
) -> tuple[float, float]:
    """Held-out AUC of a reference-vs-candidate classifier on ``(N, d)`` features, and its
    Hanley-McNeil error. See the module docstring for the protocol."""
    cfg = config or ClassifierConfig()
    x_ref = np.asarray(reference, dtype=np.float32)
    x_can = np.asarray(candidate, dtype=np.float32)
    if x_ref.ndim != 2 or x_can.ndim != 2 or x_ref.shape[1] != x_can.shape[1]:
        msg = (
            f"classifier inputs must be (N, d) with the same d; got {x_ref.shape} and {x_can.shape}"
        )
        raise ValueError(msg)
    if not (np.isfinite(x_ref).all() and np.isfinite(x_can).all()):
        msg = "classifier inputs hold NaN or infinite values"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    n = min(len(x_ref), len(x_can), cfg.max_per_class)
    if n < 8:
        msg = f"classifier needs at least 8 showers per sample, got {n}"
        raise ValueError(msg)
    # one (2n, d) float32 buffer, filled and standardised in place (memory: 2 n d 4 bytes)
    x = np.empty((2 * n, x_ref.shape[1]), dtype=np.float32)
    np.take(x_ref, np.sort(rng.choice(len(x_ref), n, replace=False)), axis=0, out=x[:n])
    np.take(x_can, np.sort(rng.choice(len(x_can), n, replace=False)), axis=0, out=x[n:])
    y = np.concatenate([np.zeros(n, np.float32), np.ones(n, np.float32)])
    train, val, test = _split(2 * n, cfg.split, rng)
    n_test_pos, n_test_neg = int(y[test].sum()), int(len(test) - y[test].sum())
    if min(n_test_pos, n_test_neg) < MIN_TEST_PER_CLASS:
        warnings.warn(
            f"{description}: only {min(n_test_pos, n_test_neg)} test showers per class "
            f"(< {MIN_TEST_PER_CLASS}); the AUC is uncertain",
            SmallSampleWarning,
            stacklevel=2,
        )
    lo, hi = _train_range(x, train)
    np.clip(x, lo, hi, out=x)
    mean, std = _train_moments(x, train)
    x -= mean
    x /= np.where(std > 0, std, np.float32(1.0))
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    threads_before = torch.get_num_threads()
    torch.set_num_threads(max(cfg.threads, 1))
    try:
        auc = _train_and_test(tx, ty, (train, val, test), cfg, seed, progress, description)
    finally:
        torch.set_num_threads(threads_before)
    return auc, hanley_mcneil_error(auc, n_test_pos, n_test_neg)


def _train_and_test(
    tx: torch.Tensor,
    ty: torch.Tensor,
    splits: tuple[np.ndarray, np.ndarray, np.ndarray],
    cfg: ClassifierConfig,
    seed: int,
    progress: bool,
    description: str,
) -> float:
    train, val, test = splits
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _network(tx.shape[1], cfg)
        opt = torch.optim.Adam(net.parameters(), lr=cfg.learning_rate)
        loss_fn = nn.BCEWithLogitsLoss()
        best_loss, best_state, stale = math.inf, None, 0
        train_t, val_t = torch.from_numpy(train), torch.from_numpy(val)
        with StageProgress(
            cfg.max_epochs, description=description, unit="epoch", enabled=progress
        ) as bar:
            for _epoch in range(cfg.max_epochs):
                # train one epoch on shuffled mini-batches
                net.train()
                order = train_t[torch.randperm(len(train_t))]
                for i in range(0, len(order), cfg.batch_size):
                    idx = order[i : i + cfg.batch_size]
                    opt.zero_grad()
                    loss = loss_fn(net(tx[idx]).squeeze(1), ty[idx])
                    loss.backward()
                    opt.step()
                # validate, keep the best state, stop early
                val_loss = float(loss_fn(_logits(net, tx[val_t]), ty[val_t]))
                bar.advance({"val loss": val_loss})
                if val_loss < best_loss - 1e-5:
                    best_loss, stale = val_loss, 0
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
                    if stale >= cfg.patience:
                        break
        if best_state is not None:
            net.load_state_dict(best_state)
        scores = _logits(net, tx[torch.from_numpy(test)]).numpy()
    return float(roc_auc_score(ty[torch.from_numpy(test)].numpy(), scores))
