"""The CI gate of ``caloforge evaluate``: which results make the command exit with status 1.

``--fail-on-flag`` fails on any flagged observable (:mod:`caloforge.evaluation.flagging`,
including the cell-energy spectrum); ``--max-auc X`` fails on any classifier AUC (low- or
high-level) above ``X``. Each failure is one line naming the candidate and what failed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["check_max_auc", "gate_failures"]


def check_max_auc(max_auc: float | None) -> None:
    """A ValueError unless ``max_auc`` is None or in [0, 1]."""
    if max_auc is not None and not 0.0 <= max_auc <= 1.0:
        msg = f"--max-auc must be in [0, 1], got {max_auc}"
        raise ValueError(msg)


def gate_failures(
    metrics: dict[str, Any], *, fail_on_flag: bool = False, max_auc: float | None = None
) -> list[str]:
    """The reasons to fail, one line each (empty: pass) for the metrics of ``evaluate``."""
    check_max_auc(max_auc)
    out = []
    for label, c in metrics["candidates"].items():
        if fail_on_flag and c["flagged"]:
            out.append(f"{label}: {len(c['flagged'])} flagged: {', '.join(c['flagged'])}")
        if max_auc is not None:
            for kind, v in c.get("classifier", {}).items():
                if v["auc"] > max_auc:
                    out.append(
                        f"{label}: {kind.replace('_', '-')} classifier AUC {v['auc']:.3f} "
                        f"± {v['error']:.3f} > {max_auc}"
                    )
    return out
