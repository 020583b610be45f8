"""The challenge's binary DNN classifier (low- or high-level inputs), its split and recipe.

Recipe (defaults of :class:`ChallengeClassifierConfig`): label candidate 0, reference 1; shuffle
each sample and split it into train / test / validation sets of the dataset's fixed sizes
(dataset 2: 60k / 20k / 20k showers per sample) or, when a sample is smaller than that, of the
fractions 0.6 / 0.2 / 0.2; a fully connected network ``d -> 2048`` then ``n_layers`` x
``2048 -> 2048`` (LeakyReLU, dropout 0) ``-> 1`` (logit), float64, trained with Adam (learning
rate 2e-4, batches of 1000) on the binary cross-entropy for 50 epochs, keeping the epoch with the
best test-set accuracy; its test-set outputs calibrate the probabilities by isotonic regression
(clipped to [1e-6, 1 - 1e-6]); the AUC and the JSD (``(log 2 - BCE) / log 2``) of the calibrated
probabilities are measured on the validation set, which training and calibration never saw.
The AUC's error is Hanley-McNeil's (the challenge quotes none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from torch import nn

from caloforge.evaluation.classifier import hanley_mcneil_error

__all__ = ["ChallengeClassifierConfig", "challenge_classifier", "challenge_split"]


@dataclass(frozen=True)
class ChallengeClassifierConfig:
    """The challenge's classifier settings (its command-line defaults)."""

    n_layers: int = 2
    n_hidden: int = 2048
    dropout: float = 0.0
    batch_size: int = 1000
    n_epochs: int = 50
    learning_rate: float = 2e-4
    dtype: str = "float64"
    threads: int = 1


def challenge_split(
    n_candidate: int, n_reference: int, sizes: tuple[int, int, int] | None
) -> tuple[tuple[int, int, int], str]:
    """Showers per sample in train / test / validation and which rule gave them."""
    n = min(n_candidate, n_reference)
    if sizes is not None and sum(sizes) <= n:
        return sizes, "the dataset's fixed sizes"
    counts = (np.asarray([0.6, 0.2, 0.2]) * n).astype(int)
    return (int(counts[0]), int(counts[1]), int(counts[2])), "fractions 0.6/0.2/0.2"


def _network(d: int, cfg: ChallengeClassifierConfig) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(d, cfg.n_hidden), nn.LeakyReLU(), nn.Dropout(cfg.dropout)]
    for _ in range(cfg.n_layers):
        layers += [nn.Linear(cfg.n_hidden, cfg.n_hidden), nn.LeakyReLU(), nn.Dropout(cfg.dropout)]
    layers.append(nn.Linear(cfg.n_hidden, 1))
    return nn.Sequential(*layers)


def _logits(model: nn.Module, x: torch.Tensor, batch: int) -> np.ndarray:
    model.eval()
    with torch.no_grad():
        out = [model(x[i : i + batch]).reshape(-1) for i in range(0, len(x), batch)]
    return torch.cat(out).double().numpy() if out else np.zeros(0)


def challenge_classifier(
    candidate: np.ndarray,
    reference: np.ndarray,
    *,
    sizes: tuple[int, int, int] | None = None,
    config: ChallengeClassifierConfig | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Train and test the classifier on (N, d) inputs; returns AUC, its error, JSD and the split."""
    cfg = config or ChallengeClassifierConfig()
    (n_train, n_test, n_val), rule = challenge_split(len(candidate), len(reference), sizes)
    if min(n_train, n_test, n_val) < 2:
        msg = (
            f"classifier: too few showers ({len(candidate)} candidate, {len(reference)} reference)"
        )
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    dtype = getattr(torch, cfg.dtype)

    def split(x: np.ndarray, label: float) -> list[np.ndarray]:
        rows = rng.permutation(len(x))
        data = np.concatenate([np.asarray(x, np.float64), np.full((len(x), 1), label)], axis=1)
        cuts = np.cumsum([n_train, n_test, n_val])
        return [data[rows[a:b]] for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]

    parts = list(zip(split(candidate, 0.0), split(reference, 1.0), strict=True))
    train, test, val = (np.concatenate(p) for p in parts)
    train = train[rng.permutation(len(train))]
    old_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        model = _network(train.shape[1] - 1, cfg).to(dtype)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        loss_fn = nn.BCEWithLogitsLoss()
        xt = torch.as_tensor(train, dtype=dtype)
        x_test = torch.as_tensor(test[:, :-1], dtype=dtype)
        best_acc, best_state, best_epoch = -1.0, None, 0
        for epoch in range(cfg.n_epochs):
            model.train()
            for idx in torch.randperm(len(xt), generator=gen).split(cfg.batch_size):
                batch = xt[idx]
                loss = loss_fn(model(batch[:, :-1]), batch[:, -1:])
                opt.zero_grad()
                loss.backward()
                opt.step()
            p_test = 1.0 / (1.0 + np.exp(-_logits(model, x_test, cfg.batch_size)))
            acc = float((np.round(p_test) == test[:, -1]).mean())
            if acc > best_acc:
                best_acc, best_epoch = acc, epoch + 1
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
            if acc == 1.0:
                break
        assert best_state is not None
        model.load_state_dict(best_state)
        p_test = 1.0 / (1.0 + np.exp(-_logits(model, x_test, cfg.batch_size)))
        p_val = 1.0 / (
            1.0 + np.exp(-_logits(model, torch.as_tensor(val[:, :-1], dtype=dtype), cfg.batch_size))
        )
    finally:
        torch.set_num_threads(old_threads)
    iso = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1.0 - 1e-6)
    iso.fit(p_test, test[:, -1])
    calibrated = iso.predict(p_val)
    y = val[:, -1]
    auc = float(roc_auc_score(y, calibrated))
    p = np.clip(calibrated, 1e-12, 1 - 1e-12)
    bce = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return {
        "auc": auc,
        "error": hanley_mcneil_error(auc, int(y.sum()), int(len(y) - y.sum())),
        "jsd": (np.log(2.0) - bce) / np.log(2.0),
        "best_epoch": best_epoch,
        "split": {"train": n_train, "test": n_test, "validation": n_val, "rule": rule},
    }
